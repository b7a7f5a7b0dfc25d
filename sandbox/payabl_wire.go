package sandbox

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// payabl. speaks ISO-8859-1 (Latin-1) form encoding in both directions:
// "Do not try to send the gateway UTF-8 multibyte characters" (payabl FAQ).
// Latin-1 is the first 256 Unicode code points, so decoding maps byte b to
// rune b and encoding is the reverse.

// latin1Decode turns Latin-1 bytes into a Go (UTF-8) string.
func latin1Decode(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// latin1Encode turns a string into Latin-1 bytes; characters outside
// Latin-1 cannot be represented and become '?', as a Latin-1 system would
// store them.
func latin1Encode(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

// payablForm is a decoded request body. The first occurrence of a name wins.
type payablForm map[string]string

// parsePayablForm decodes an application/x-www-form-urlencoded body whose
// percent-decoded bytes are Latin-1.
func parsePayablForm(body []byte) (payablForm, error) {
	f := payablForm{}
	for pair := range strings.SplitSeq(string(body), "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		kb, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errors.New("malformed form encoding")
		}
		vb, err := url.QueryUnescape(v)
		if err != nil {
			return nil, errors.New("malformed form encoding")
		}
		name := latin1Decode([]byte(kb))
		if _, dup := f[name]; !dup {
			f[name] = latin1Decode([]byte(vb))
		}
	}
	return f, nil
}

// readPayablForm reads and decodes a POST body, capped at maxBody.
func readPayablForm(w http.ResponseWriter, r *http.Request) (payablForm, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, caddyhttp.Error(http.StatusRequestEntityTooLarge, errors.New("payments sandbox: request body too large"))
		}
		return nil, caddyhttp.Error(http.StatusBadRequest, errors.New("payments sandbox: reading request body failed"))
	}
	return parsePayablForm(body)
}

// readSigned reads the body and verifies merchantid and signature. When ok
// is false the request has been answered (through fail, in the operation's
// reply format) or err is a transport error for Caddy.
func (p *payabl) readSigned(w http.ResponseWriter, r *http.Request, fail func(*payablErr) error) (f payablForm, ok bool, err error) {
	f, err = readPayablForm(w, r)
	if err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) {
			return nil, false, err
		}
		return nil, false, fail(errMissingFields("request body (form encoding)"))
	}
	if e := p.checkAuth(f); e != nil {
		return nil, false, fail(e)
	}
	return f, true, nil
}

// kv is one ordered key/value pair of a form-encoded reply. payabl.'s
// replies have a fixed field order (see the seed's examples), which
// url.Values.Encode would sort away.
type kv struct{ k, v string }

// encodePayablForm form-encodes pairs in order, as Latin-1.
func encodePayablForm(pairs []kv) []byte {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(string(latin1Encode(p.k))))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(string(latin1Encode(p.v))))
	}
	return []byte(b.String())
}

// writePayablForm sends a form-encoded reply with HTTP 200: payabl. reports
// business errors in the body, not in the HTTP status.
func writePayablForm(w http.ResponseWriter, pairs []kv) error {
	w.Header().Set("Content-Type", "text/plain; charset=ISO-8859-1")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(encodePayablForm(pairs))
	return err
}

// flush pushes a written reply to the client before background work
// starts; Caddy's writers expose Flush through Unwrap.
func flush(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
}

// writePayablError sends status/errormessage/errmsg, payabl.'s error shape.
func writePayablError(w http.ResponseWriter, e *payablErr) error {
	return writePayablForm(w, []kv{
		{"status", strconv.Itoa(e.code)},
		{"errormessage", e.message},
		{"errmsg", e.message},
	})
}

// payablErr is a payabl. status code and its errormessage.
type payablErr struct {
	code    int
	message string
}

func (e *payablErr) Error() string { return strconv.Itoa(e.code) + " " + e.message }

// perr builds a payablErr.
func perr(code int, message string) *payablErr { return &payablErr{code, message} }

// payablSignature is the request signature: values of every parameter
// except "signature", sorted byte-wise by name, concatenated without
// separators, the secret appended, SHA-1 over the Latin-1 bytes, lowercase
// hex. Empty values contribute nothing, so sending or omitting them signs
// the same.
func payablSignature(params payablForm, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(params[k])
	}
	b.WriteString(secret)
	sum := sha1.Sum(latin1Encode(b.String()))
	return hex.EncodeToString(sum[:])
}

// payablSecurity is the notification signature: hex(H(transactionid + type
// + errorcode + timestamp + secret)), fixed order, no separators. H is
// SHA-256 for ordinary notifications and SHA-1 for the failed-payout one.
func payablSecurity(newHash func() hash.Hash, transactionid, typ, errorcode, timestamp, secret string) string {
	h := newHash()
	h.Write(latin1Encode(transactionid + typ + errorcode + timestamp + secret))
	return hex.EncodeToString(h.Sum(nil))
}

// securitySHA256 and securitySHA1 select the notification hash.
var (
	securitySHA256 = sha256.New
	securitySHA1   = sha1.New
)

// checkAuth verifies merchantid and signature; payabl. answers both with
// -999 and does not say which one was wrong.
func (p *payabl) checkAuth(f payablForm) *payablErr {
	const msg = "Unknown error: merchantid or signature wrong or missing"
	sig := f["signature"]
	if f["merchantid"] != p.merchantID || len(sig) != 40 {
		return perr(-999, msg)
	}
	want := payablSignature(f, p.secret)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return perr(-999, msg)
	}
	return nil
}

// amountRE is payabl.'s amount format: up to 8 integer digits, and either
// no decimals or exactly two.
var amountRE = regexp.MustCompile(`^\d{1,8}(\.\d{2})?$`)

// parsePayablAmount converts a wire amount to minor units. All Trustly
// currencies have two decimals.
func parsePayablAmount(s string) (int64, bool) {
	if !amountRE.MatchString(s) {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	var c int64
	if frac != "" {
		c, _ = strconv.ParseInt(frac, 10, 64)
	}
	return w*100 + c, true
}

// formatPayablAmount renders minor units as payabl. does in replies: "19.99".
func formatPayablAmount(minor int64) string {
	return strconv.FormatInt(minor/100, 10) + "." + twoDigits(minor%100)
}

func twoDigits(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
