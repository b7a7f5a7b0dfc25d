package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// payabl. emulator (ex-powercash21), Trustly only (payment_method=116).
//
// Paths, under <prefix>/payabl:
//
//	POST /pay/backoffice/payment_preauthorize   create a Trustly payment (form reply, status=2000 + redirect_url)
//	POST /pay/backoffice/payment_refund         refund a credited payment (form reply)
//	POST /pay/backoffice/payment_cft            payout by transactionid or bank details (form reply)
//	POST /pay/backoffice/tx_diagnose            status query (ISO-8859-1 XML reply)
//	POST /pay/backoffice/send_notification      re-send a transaction's latest notification (XML reply)
//	GET  /pay/<token>/payment/redirect_to_bank  the checkout page (Approve / Decline)
//	GET  /_sandbox/payments                     sandbox-only JSON listing of every transaction
//	POST /_sandbox/payments/<id>/approve|decline  sandbox-only scripted Approve / Decline
//
// Lifecycle of a payment (diagnose error_code in brackets):
//
//	preauthorize → pending [2000]
//	Approve      → notification errorcode=0 payment_state=not_credited_yet
//	               [diagnose_accepted: 0 by default, or 2000],
//	               after notify_delay: notification errorcode=0 payment_state=credited [0]
//	               (magic 15.15: then a chargeback, notification type=chb errorcode=0,
//	               listed by tx_diagnose type=chb)
//	Decline      → notification errorcode=-5003 payment_state=not_credited [-5003]
//
// Notifications carry transactionid, type, errorcode, errormessage, amount,
// currency, orderid, payment_state, timestamp and
// security = sha256hex(transactionid+type+errorcode+timestamp+secret);
// payabl. expects HTTP 200 with body "OK", and the sandbox records what it
// got. Refund notifications (type=refund) carry the refund's own
// transactionid.

// Defaults of the public payabl. sandbox account, published in its docs.
const (
	DefaultPayablMerchantID = "gateway_test"
	DefaultPayablSecret     = "b185"
)

// PayablConfig configures the payabl. emulator.
type PayablConfig struct {
	// MerchantID is the merchantid requests must carry. Default
	// "gateway_test", payabl.'s public sandbox account.
	MerchantID string `json:"merchant_id,omitempty"`

	// Secret signs and verifies requests and notifications. Default "b185",
	// the public payabl. sandbox secret. {env.*} and {file.*} placeholders
	// are resolved in Provision.
	Secret string `json:"secret,omitempty"`

	// DiagnoseAccepted is what tx_diagnose reports as error_code for a
	// Trustly payment between accepted (notification errorcode=0
	// payment_state=not_credited_yet) and credited: "0" or "2000".
	// payabl's documents do not say (its code space reads "0-successful,
	// 2000-pending"); the literal reading is 0, so that is the default,
	// and the other reading can be chosen to test a client under both.
	// Caddyfile: `diagnose_accepted 0|2000` in the payabl block.
	DiagnoseAccepted string `json:"diagnose_accepted,omitempty"`
}

// Transaction kinds, as tx_diagnose and notifications name them.
const (
	kindCapture = "capture"
	kindRefund  = "refund"
	kindCFT     = "cft"
)

// Trustly payment_state values.
const (
	stateNotCreditedYet = "not_credited_yet"
	stateCredited       = "credited"
	stateNotCredited    = "not_credited"
)

// payabl is the emulator's state. All fields below mu are guarded by it.
type payabl struct {
	env        *env
	merchantID string
	secret     string
	// acceptedCode is the tx_diagnose error_code between accepted and
	// credited (0 or 2000, PayablConfig.DiagnoseAccepted).
	acceptedCode int

	mu      sync.Mutex
	txns    map[string]*payablTxn
	byToken map[string]*payablTxn
	ordered []*payablTxn
}

// payablTxn is one transaction: a Trustly deposit (capture), a refund or a
// payout (cft).
type payablTxn struct {
	ID         string
	Kind       string
	MerchantID string
	OrderID    string
	Custom1    string
	Amount     int64
	Currency   string
	Created    time.Time
	// Code is the payabl. status: 2000 pending, 0 successful, negative failed.
	Code         int
	Message      string
	PaymentState string
	ParentID     string
	UserID       string

	NotificationURL string
	URLSuccess      string
	URLFailed       string
	URLReturn       string
	// Token is the checkout path token; FormToken guards the Approve and
	// Decline form so a blind cross-site POST cannot decide a payment.
	Token     string
	FormToken string
	// Duplicate makes every notification go out twice (magic 14.14).
	Duplicate bool
	Refunded  int64

	Notifications []payablDelivery

	// lastStamp is the timestamp of the latest notification sent.
	lastStamp int64
	// latest is the latest notification built for this transaction (what
	// send_notification re-sends); nil before the first.
	latest *payablNotice
	// Chargebacks are the booking times of chargebacks on a deposit
	// (magic 15.15), listed by tx_diagnose type=chb.
	Chargebacks []time.Time
}

// payablDelivery records one notification attempt and how the receiver
// answered: its HTTP status and whether that acknowledged the notification,
// never the body of the answer.
type payablDelivery struct {
	Type         string    `json:"type"`
	ErrorCode    string    `json:"errorcode"`
	PaymentState string    `json:"payment_state,omitempty"`
	Timestamp    int64     `json:"timestamp"`
	URL          string    `json:"url,omitempty"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Error        string    `json:"error,omitempty"`
	Acknowledged bool      `json:"acknowledged"`
	SentAt       time.Time `json:"sent_at"`
}

// newPayabl builds the emulator, resolving placeholders in the secret.
func newPayabl(e *env, cfg *PayablConfig) (*payabl, error) {
	p := &payabl{
		env:        e,
		merchantID: DefaultPayablMerchantID,
		secret:     DefaultPayablSecret,
		txns:       map[string]*payablTxn{},
		byToken:    map[string]*payablTxn{},
	}
	if cfg != nil {
		repl := caddy.NewReplacer()
		if cfg.MerchantID != "" {
			id, err := repl.ReplaceOrErr(cfg.MerchantID, true, true)
			if err != nil {
				return nil, errors.New("merchant_id: placeholder did not resolve")
			}
			p.merchantID = id
		}
		if cfg.Secret != "" {
			// The error of ReplaceOrErr is not wrapped: it could quote the input.
			s, err := repl.ReplaceOrErr(cfg.Secret, true, true)
			if err != nil || s == "" {
				return nil, errors.New("secret: placeholder did not resolve to a value")
			}
			p.secret = s
		}
	}
	if cfg != nil {
		switch cfg.DiagnoseAccepted {
		case "", "0":
		case "2000":
			p.acceptedCode = 2000
		default:
			return nil, errors.New("diagnose_accepted: must be 0 or 2000")
		}
	}
	if !maxLen(p.merchantID, 40) {
		return nil, errors.New("merchant_id: at most 40 characters")
	}
	return p, nil
}

// serve routes a request below <prefix>/payabl.
func (p *payabl) serve(w http.ResponseWriter, r *http.Request, rest string) error {
	if op, ok := strings.CutPrefix(rest, "/pay/backoffice/"); ok {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "payabl. backoffice operations are POST", http.StatusMethodNotAllowed)
			return nil
		}
		switch op {
		case "payment_preauthorize":
			return p.preauthorize(w, r)
		case "payment_refund":
			return p.refund(w, r)
		case "payment_cft":
			return p.cft(w, r)
		case "tx_diagnose":
			return p.diagnose(w, r)
		case "send_notification":
			return p.resend(w, r)
		}
		http.NotFound(w, r)
		return nil
	}
	if token, ok := checkoutToken(rest); ok {
		return p.checkout(w, r, token)
	}
	if sub, ok := strings.CutPrefix(rest, "/_sandbox/payments"); ok {
		return p.inspect(w, r, sub)
	}
	http.NotFound(w, r)
	return nil
}

// checkoutToken extracts <token> from /pay/<token>/payment/redirect_to_bank.
func checkoutToken(rest string) (string, bool) {
	mid, ok := strings.CutPrefix(rest, "/pay/")
	if !ok {
		return "", false
	}
	token, ok := strings.CutSuffix(mid, "/payment/redirect_to_bank")
	if !ok || token == "" || strings.Contains(token, "/") {
		return "", false
	}
	return token, true
}

// checkoutURL is the absolute redirect_url of a payment.
func (p *payabl) checkoutURL(r *http.Request, t *payablTxn) string {
	return p.env.baseURL(r) + "/payabl/pay/" + t.Token + "/payment/redirect_to_bank"
}

// insertLocked assigns a fresh 9-digit transaction id and stores t.
// Caller holds p.mu.
func (p *payabl) insertLocked(t *payablTxn) {
	for {
		id := randomDigits(9)
		if _, taken := p.txns[id]; !taken {
			t.ID = id
			break
		}
	}
	if t.Created.IsZero() {
		t.Created = time.Now().UTC()
	}
	p.txns[t.ID] = t
	if t.Token != "" {
		p.byToken[t.Token] = t
	}
	p.ordered = append(p.ordered, t)
}

// randomDigits returns n decimal digits without a leading zero.
func randomDigits(n int) string {
	lo := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n-1)), nil)
	span := new(big.Int).Mul(lo, big.NewInt(9))
	v, err := rand.Int(rand.Reader, span)
	if err != nil {
		panic("sandbox: crypto/rand failed: " + err.Error())
	}
	return v.Add(v, lo).String()
}

// randomHex returns 2n lowercase hex characters.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

// codeString renders a status code for the wire.
func codeString(code int) string { return strconv.Itoa(code) }
