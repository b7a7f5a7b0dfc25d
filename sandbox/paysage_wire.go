package sandbox

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// psTxn is one transaction: a Trustly payment or a refund of one.
type psTxn struct {
	UID         string
	Type        string
	Status      string
	Message     string
	Amount      int64
	Currency    string
	Description string
	TrackingID  string
	Language    string
	Created     time.Time
	Updated     time.Time
	// Version counts the changes after creation (0 in PaySage's examples).
	Version int
	RefID   string
	IP      string
	Cust    psCustomer

	ReturnURL       string
	NotificationURL string
	// Base is the sandbox's external URL when the payment was created; it
	// keeps form.action and receipt_url stable across later reads.
	Base      string
	ExpiredAt time.Time
	// Token is the checkout path token; FormToken guards the Approve and
	// Decline form so a blind cross-site POST cannot decide a payment.
	// ReceiptHash is the last segment of receipt_url.
	Token       string
	FormToken   string
	ReceiptHash string
	// Duplicate makes every webhook of this payment go out twice (1414).
	Duplicate bool

	ParentUID string
	Reason    string
	Refunded  int64

	Webhooks []psDelivery
}

// psCustomer holds request.customer (and the top-level email/ip echo).
type psCustomer struct {
	FirstName, LastName, Country, ExternalID string
	Email, Phone, City, Address, Zip, Birth  string
}

// The wire structs below have PaySage's field order (seed 003's Trustly
// response example), which a map would sort away.

// psWirePayment is a payment transaction on the wire.
type psWirePayment struct {
	UID                 string           `json:"uid"`
	Type                string           `json:"type"`
	Status              string           `json:"status"`
	Amount              int64            `json:"amount"`
	Currency            string           `json:"currency"`
	Description         string           `json:"description"`
	CreatedAt           string           `json:"created_at"`
	UpdatedAt           string           `json:"updated_at"`
	MethodType          string           `json:"method_type"`
	ReceiptURL          string           `json:"receipt_url"`
	Payment             psWireStep       `json:"payment"`
	Trustly             psWireMethod     `json:"trustly"`
	Customer            psWireCustomer   `json:"customer"`
	ManuallyCorrectedAt *string          `json:"manually_corrected_at"`
	Version             int              `json:"version"`
	Message             string           `json:"message"`
	Test                bool             `json:"test"`
	Language            string           `json:"language"`
	BillingAddress      psWireBilling    `json:"billing_address"`
	AdditionalData      psWireAdditional `json:"additional_data"`
	Gateway             psWireGateway    `json:"gateway"`
	Form                *psWireForm      `json:"form,omitempty"`
	TrackingID          string           `json:"tracking_id,omitempty"`
	ExpiredAt           string           `json:"expired_at,omitempty"`
}

// psWireStep is the provider-level status block ("payment" or "refund").
type psWireStep struct {
	Status    string `json:"status"`
	GatewayID int    `json:"gateway_id,omitempty"`
	RefID     string `json:"ref_id"`
	Message   string `json:"message"`
}

type psWireMethod struct {
	Type string `json:"type"`
}

// psWireCustomer echoes request.customer; email and ip are always present
// (null when not given), as in the seed.
type psWireCustomer struct {
	FirstName  string  `json:"first_name"`
	LastName   string  `json:"last_name"`
	Country    string  `json:"country"`
	ExternalID string  `json:"external_id"`
	Email      *string `json:"email"`
	IP         *string `json:"ip"`
	Phone      string  `json:"phone,omitempty"`
	BirthDate  string  `json:"birth_date,omitempty"`
}

type psWireBilling struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Country   string `json:"country"`
	City      string `json:"city,omitempty"`
	Address   string `json:"address,omitempty"`
	Zip       string `json:"zip,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

type psWireAdditional struct {
	PaymentMethod psWireMethod `json:"payment_method"`
}

type psWireGateway struct {
	Iframe bool `json:"iframe"`
}

// psWireForm is where to send the customer: always a GET link to the
// sandbox checkout page with no fields, like the seed.
type psWireForm struct {
	Action string   `json:"action"`
	Method string   `json:"method"`
	Fields []string `json:"fields"`
}

// psWireRefund is a refund transaction on the wire, in the field order of
// the reference's refund response (§6).
type psWireRefund struct {
	UID        string     `json:"uid"`
	ParentUID  string     `json:"parent_uid"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	Message    string     `json:"message"`
	CreatedAt  string     `json:"created_at"`
	UpdatedAt  string     `json:"updated_at"`
	Amount     int64      `json:"amount"`
	Currency   string     `json:"currency"`
	TrackingID *string    `json:"tracking_id"`
	Test       bool       `json:"test"`
	Language   string     `json:"language"`
	PaidAt     string     `json:"paid_at"`
	MethodType string     `json:"method_type"`
	ReceiptURL string     `json:"receipt_url"`
	Refund     psWireStep `json:"refund"`
}

// psGatewayID is the gateway_id of PaySage's Trustly example.
const psGatewayID = 5220

// psTime renders a timestamp as PaySage does: "2025-04-07T09:49:22Z".
func psTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// wire renders t as PaySage's transaction object. Caller holds p.mu.
func (p *paysage) wire(t *psTxn) any {
	base := t.Base
	receipt := base + "/paysage/customer/transactions/" + t.UID + "/" + t.ReceiptHash + "?language=" + url.QueryEscape(t.Language)
	if t.Type == psTypeRefund {
		var tracking *string
		if t.TrackingID != "" {
			tracking = &t.TrackingID
		}
		return psWireRefund{
			UID: t.UID, ParentUID: t.ParentUID, Type: t.Type, Status: t.Status, Message: t.Message,
			CreatedAt: psTime(t.Created), UpdatedAt: psTime(t.Updated),
			Amount: t.Amount, Currency: t.Currency, TrackingID: tracking, Test: true, Language: t.Language,
			PaidAt: psTime(t.Created), MethodType: "trustly", ReceiptURL: receipt,
			Refund: psWireStep{Status: t.Status, RefID: t.RefID, Message: t.Message},
		}
	}
	c := t.Cust
	w := psWirePayment{
		UID: t.UID, Type: t.Type, Status: t.Status, Amount: t.Amount, Currency: t.Currency,
		Description: t.Description, CreatedAt: psTime(t.Created), UpdatedAt: psTime(t.Updated),
		MethodType: "trustly", ReceiptURL: receipt,
		Payment: psWireStep{Status: t.Status, GatewayID: psGatewayID, RefID: t.RefID, Message: t.Message},
		Trustly: psWireMethod{Type: "trustly"},
		Customer: psWireCustomer{
			FirstName: c.FirstName, LastName: c.LastName, Country: c.Country, ExternalID: c.ExternalID,
			Email: nullable(c.Email), IP: nullable(t.IP), Phone: c.Phone, BirthDate: c.Birth,
		},
		Version: t.Version, Message: t.Message,
		// Every sandbox object is a test object, whatever the request said.
		Test:     true,
		Language: t.Language,
		BillingAddress: psWireBilling{
			FirstName: c.FirstName, LastName: c.LastName, Country: c.Country,
			City: c.City, Address: c.Address, Zip: c.Zip, Phone: c.Phone,
		},
		AdditionalData: psWireAdditional{PaymentMethod: psWireMethod{Type: "alternative"}},
		TrackingID:     t.TrackingID,
	}
	if !t.ExpiredAt.IsZero() {
		w.ExpiredAt = t.ExpiredAt.Format(time.RFC3339)
	}
	// Only a pending payment has somewhere to send the customer.
	if t.Status == psPending {
		w.Form = &psWireForm{Action: base + "/paysage/checkout/" + t.Token, Method: http.MethodGet, Fields: []string{}}
	}
	return w
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// marshalPaysage encodes v compactly without HTML escaping, so URLs keep
// their '&' as PaySage's (Ruby) JSON does.
func marshalPaysage(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writePaysageJSON sends v as a PaySage JSON reply.
func writePaysageJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshalPaysage(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// psErrs is PaySage's nested "errors" object: each leaf is a list of
// messages, each inner node a psErrs keyed by field name.
type psErrs map[string]any

// add records msg at the field path (e.g. "request", "customer", "country").
func (e psErrs) add(msg string, path ...string) {
	node := e
	for _, k := range path[:len(path)-1] {
		next, ok := node[k].(psErrs)
		if !ok {
			next = psErrs{}
			node[k] = next
		}
		node = next
	}
	last := path[len(path)-1]
	list, _ := node[last].([]string)
	node[last] = append(list, msg)
}

// psErrorBody is PaySage's error reply.
type psErrorBody struct {
	Message string `json:"message"`
	Errors  psErrs `json:"errors"`
}

// writePaysageError sends {"message":…,"errors":{…}} with status.
func writePaysageError(w http.ResponseWriter, status int, message string, errs psErrs) error {
	return writePaysageJSON(w, status, psErrorBody{Message: message, Errors: errs})
}

// psUnprocessable is the message of a validation reply, as in beGateway's
// APM client fixture: the details are in "errors".
const psUnprocessable = "Unprocessable entity"

// authorized checks HTTP Basic shop_id:secret_key in constant time.
func (p *paysage) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(p.shopID))
	s := subtle.ConstantTimeCompare([]byte(pass), []byte(p.secretKey))
	return u&s == 1
}
