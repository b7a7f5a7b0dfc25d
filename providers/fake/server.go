package fake

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// MaxReference is the longest merchant reference the fake server accepts;
// the fake provider advertises it as Capabilities.Limits["reference"].
const MaxReference = 40

// Server is an in-memory fake payment provider speaking the fake wire. It
// is an http.Handler, meant to be hosted with httptest.NewServer:
//
//	srv := fake.NewServer("s3cret")
//	ts := httptest.NewServer(srv)
//	defer ts.Close()
//
// API calls need "Authorization: Bearer <secret>". The hosted checkout
// (/checkout/{id}) needs none: it is what the customer's browser opens.
// Approving or declining there posts signed notifications to the payment's
// notification_url; tests read them (and the replies they got) with
// Notifications.
//
// Routes:
//
//	POST /payments                   create (magic amounts: see AmountDecline…)
//	GET  /payments/{id}              fetch
//	GET  /payments?reference=R       find the latest payment with reference R
//	POST /payments/{id}/refunds      refund a succeeded payment (succeeds at once,
//	                                 or stays pending with RefundsPending)
//	POST /payments/{id}/notification send the payment's notification again
//	GET  /refunds/{id}               fetch a refund
//	POST /payouts                    create a payout (pending; magic amounts apply)
//	GET  /payouts/{id}               fetch a payout
//	GET  /checkout/{id}              a tiny HTML page with approve/decline buttons
//	POST /checkout/{id}?action=approve|decline
type Server struct {
	// SlowDelay is how long a request with AmountSlow waits before it is
	// answered (5s when zero). The wait ends early when the client goes
	// away, so closing the test server never hangs. Set it before serving.
	SlowDelay time.Duration
	// PublicURL is the base URL used in checkout_url (no trailing slash);
	// when empty, the request's own scheme and Host are used.
	PublicURL string
	// Client posts notifications; a client with a 5s timeout when nil.
	Client *http.Client
	// RefundsPending makes new refunds pending instead of succeeded at
	// once; SetStatus moves them on. Set it before serving.
	RefundsPending bool

	secret string
	mux    *http.ServeMux

	mu       sync.Mutex
	payments map[string]*wirePayment
	order    []string // payment ids in creation order, for find by reference
	refunds  map[string]*wireRefund
	payouts  map[string]*wirePayout
	sent     []SentNotification
	resends  map[string]int // payment id → resend requests
}

// NewServer returns an empty fake provider whose API key and notification
// signing key is secret.
func NewServer(secret string) *Server {
	s := &Server{
		secret:   secret,
		mux:      http.NewServeMux(),
		payments: map[string]*wirePayment{},
		refunds:  map[string]*wireRefund{},
		payouts:  map[string]*wirePayout{},
		resends:  map[string]int{},
	}
	s.mux.HandleFunc("POST /payments", s.auth(s.createPayment))
	s.mux.HandleFunc("GET /payments", s.auth(s.findPayment))
	s.mux.HandleFunc("GET /payments/{id}", s.auth(s.getPayment))
	s.mux.HandleFunc("POST /payments/{id}/refunds", s.auth(s.createRefund))
	s.mux.HandleFunc("POST /payments/{id}/notification", s.auth(s.resendNotification))
	s.mux.HandleFunc("GET /refunds/{id}", s.auth(s.getRefund))
	s.mux.HandleFunc("POST /payouts", s.auth(s.createPayout))
	s.mux.HandleFunc("GET /payouts/{id}", s.auth(s.getPayout))
	s.mux.HandleFunc("GET /checkout/{id}", s.checkoutPage)
	s.mux.HandleFunc("POST /checkout/{id}", s.checkoutAction)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// auth rejects API calls without the bearer secret (constant-time compare).
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.secret)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong API key")
			return
		}
		next(w, r)
	}
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	var in wireCreatePayment
	if !decode(w, r, &in) {
		return
	}
	switch {
	case in.Reference == "" || len(in.Reference) > MaxReference:
		writeError(w, http.StatusBadRequest, "invalid_reference", "reference must be 1 to 40 characters")
		return
	case in.Amount <= 0:
		writeError(w, http.StatusBadRequest, "invalid_amount", "amount must be positive")
		return
	case !currencyRE.MatchString(in.Currency):
		writeError(w, http.StatusBadRequest, "invalid_currency", "currency must be an ISO 4217 code")
		return
	}
	if !s.magic(w, r, in.Amount) {
		return
	}
	p := &wirePayment{
		ID: newID("fp_"), Reference: in.Reference, Amount: in.Amount, Currency: in.Currency,
		Status: wirePending, CreatedAt: time.Now().UTC().Truncate(time.Second),
		NotificationURL: in.NotificationURL, ReturnURL: in.ReturnURL,
	}
	p.CheckoutURL = s.baseURL(r) + "/checkout/" + p.ID
	s.mu.Lock()
	s.payments[p.ID] = p
	s.order = append(s.order, p.ID)
	out := *p
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var out wirePayment
	if ok {
		out = *p
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such payment")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) findPayment(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("reference")
	if ref == "" {
		writeError(w, http.StatusBadRequest, "invalid_reference", "reference is required")
		return
	}
	s.mu.Lock()
	var out *wirePayment
	for i := len(s.order) - 1; i >= 0; i-- {
		if p := s.payments[s.order[i]]; p.Reference == ref {
			c := *p
			out = &c
			break
		}
	}
	s.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusNotFound, "not_found", "no payment with that reference")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	var in wireCreateRefund
	if !decode(w, r, &in) {
		return
	}
	if in.Amount <= 0 {
		writeError(w, http.StatusBadRequest, "invalid_amount", "amount must be positive")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[r.PathValue("id")]
	switch {
	case !ok:
		writeError(w, http.StatusNotFound, "not_found", "no such payment")
		return
	case p.Status != wireSucceeded:
		writeError(w, http.StatusUnprocessableEntity, "not_refundable", "only succeeded payments can be refunded")
		return
	case in.Amount > p.Amount-p.Refunded:
		writeError(w, http.StatusUnprocessableEntity, "amount_too_large", "amount exceeds the refundable amount")
		return
	}
	p.Refunded += in.Amount
	rf := &wireRefund{
		ID: newID("fr_"), PaymentID: p.ID, Reference: in.Reference, Amount: in.Amount,
		Currency: p.Currency, Status: "succeeded", CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if s.RefundsPending {
		rf.Status = "pending"
	}
	s.refunds[rf.ID] = rf
	writeJSON(w, http.StatusCreated, *rf)
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	rf, ok := s.refunds[r.PathValue("id")]
	var out wireRefund
	if ok {
		out = *rf
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such refund")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createPayout(w http.ResponseWriter, r *http.Request) {
	var in wireCreatePayout
	if !decode(w, r, &in) {
		return
	}
	switch {
	case in.Reference == "" || len(in.Reference) > MaxReference:
		writeError(w, http.StatusBadRequest, "invalid_reference", "reference must be 1 to 40 characters")
		return
	case in.Amount <= 0:
		writeError(w, http.StatusBadRequest, "invalid_amount", "amount must be positive")
		return
	case !currencyRE.MatchString(in.Currency):
		writeError(w, http.StatusBadRequest, "invalid_currency", "currency must be an ISO 4217 code")
		return
	case in.Country == "" || (in.IBAN == "" && in.PaymentID == ""):
		writeError(w, http.StatusBadRequest, "invalid_destination", "a country and an iban or payment_id are required")
		return
	}
	if !s.magic(w, r, in.Amount) {
		return
	}
	po := &wirePayout{
		ID: newID("fo_"), Reference: in.Reference, Amount: in.Amount, Currency: in.Currency,
		Status: "pending", CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	s.mu.Lock()
	s.payouts[po.ID] = po
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, *po)
}

func (s *Server) getPayout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	po, ok := s.payouts[r.PathValue("id")]
	var out wirePayout
	if ok {
		out = *po
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such payout")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// magic applies the magic amounts. It returns false when it has answered.
func (s *Server) magic(w http.ResponseWriter, r *http.Request, amount int64) bool {
	switch amount {
	case AmountDecline:
		writeError(w, http.StatusPaymentRequired, "insufficient_funds", "the bank declined the payment")
		return false
	case AmountGarbage:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html>this is not json {")
		return false
	case AmountSlow:
		d := s.SlowDelay
		if d <= 0 {
			d = 5 * time.Second
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

func (s *Server) baseURL(r *http.Request) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// decode reads a JSON body strictly (1 MiB cap); on failure it answers 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body is not valid JSON for this call")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var e wireError
	e.Error.Code, e.Error.Message = code, message
	writeJSON(w, status, e)
}
