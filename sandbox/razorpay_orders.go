package sandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// rzpOrderFields are the order-create fields Razorpay documents
// (reference §2.2); anything else is an extra_field_sent error.
var rzpOrderFields = []string{"amount", "currency", "receipt", "notes", "partial_payment",
	"first_payment_min_amount", "customer_id", "payment", "payment_capture"}

// createOrder emulates POST /v1/orders.
func (rz *razorpay) createOrder(w http.ResponseWriter, r *http.Request) error {
	b, e := rzpReadBody(w, r, false)
	if e == nil {
		e = b.extra(rzpOrderFields...)
	}
	var o *rzpOrder
	if e == nil {
		o, e = rzpNewOrder(b)
	}
	if e != nil {
		return rzpWriteError(w, e)
	}
	switch o.Amount {
	case rzpMagicGarbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte("<html>oops"))
		return err
	case rzpMagicOrderRefuse:
		return rzpWriteError(w, &rzpError{status: http.StatusBadRequest, code: "BAD_REQUEST_ERROR",
			description: "The order could not be created for this account.", source: "business", step: "payment_initiation", reason: "NA"})
	}
	rz.mu.Lock()
	for {
		o.ID = rzpID("order")
		if _, taken := rz.orders[o.ID]; !taken {
			break
		}
	}
	rz.orders[o.ID] = o
	rz.orderList = append(rz.orderList, o)
	ent := o.entity()
	rz.mu.Unlock()
	if o.Amount == rzpMagicSlow {
		// The order exists already: a client that gave up finds it with
		// GET /v1/orders?receipt=.
		if !rz.env.sleep(r.Context(), rz.env.slowDelay) {
			return nil
		}
	}
	return rzpWriteJSON(w, http.StatusOK, ent)
}

// rzpNewOrder validates an order-create body and builds the order.
// Duplicate receipts are accepted: that is what a third party measured by
// default (reference §10, reading (c)); GET /v1/orders?receipt= then
// lists every order with it, newest first.
func rzpNewOrder(b rzpBody) (*rzpOrder, *rzpError) {
	amount, cur, e := rzpCheckAmountCurrency(b)
	if e != nil {
		return nil, e
	}
	o := &rzpOrder{Amount: amount, Currency: cur, Status: rzpOrderCreated, CreatedAt: time.Now().Unix()}
	if s, ok, e := b.str("receipt"); e != nil {
		return nil, e
	} else if ok {
		if len([]rune(s)) > 40 {
			return nil, rzpBad("receipt", "The receipt may not be greater than 40 characters.")
		}
		if !isASCII(s) {
			return nil, rzpBad("receipt", "The receipt must contain only ASCII characters.")
		}
		o.Receipt = &s
	}
	if o.Notes, e = b.notes(); e != nil {
		return nil, e
	}
	partial, _, e := rzpBool(b, "partial_payment", false)
	if e != nil {
		return nil, e
	}
	if min, ok, e := b.integer("first_payment_min_amount"); e != nil {
		return nil, e
	} else if ok && (!partial || min < 0 || min > amount) {
		return nil, rzpBad("first_payment_min_amount",
			"The first_payment_min_amount is allowed only with partial_payment and must be between 0 and the amount.")
	}
	if _, _, e := b.str("customer_id"); e != nil {
		return nil, e
	}
	// Legacy flag first; the "payment" object overrides it (reference §5.2).
	if auto, ok, e := rzpBool(b, "payment_capture", true); e != nil {
		return nil, e
	} else if ok {
		o.ManualCapture = !auto
	}
	if b.has("payment") {
		manual, e := rzpCaptureSettings(b["payment"])
		if e != nil {
			return nil, e
		}
		o.ManualCapture = manual
	}
	return o, nil
}

// rzpBool reads an optional boolean; numeric allows the legacy 0/1 form of
// payment_capture.
func rzpBool(b rzpBody, name string, numeric bool) (v, present bool, e *rzpError) {
	if !b.has(name) {
		return false, false, nil
	}
	switch string(b[name]) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	case "1":
		if numeric {
			return true, true, nil
		}
	case "0":
		if numeric {
			return false, true, nil
		}
	}
	return false, true, rzpBad(name, "The "+name+" field must be true or false.")
}

// rzpCaptureSettings validates the per-order "payment" object of reference
// §5.2 and reports whether capture is manual.
func rzpCaptureSettings(raw json.RawMessage) (manual bool, _ *rzpError) {
	var p rzpBody
	if json.Unmarshal(raw, &p) != nil || p == nil {
		return false, rzpBad("payment", "The payment field must be an object.")
	}
	if e := p.extra("capture", "capture_options"); e != nil {
		e.field, e.description = "payment."+e.field, "payment."+e.description
		return false, e
	}
	capture, _, e := p.str("capture")
	if e != nil || (capture != "automatic" && capture != "manual") {
		return false, rzpBad("payment.capture", "The payment.capture must be automatic or manual.")
	}
	var opts rzpBody
	if !p.has("capture_options") || json.Unmarshal(p["capture_options"], &opts) != nil || opts == nil {
		return false, rzpBad("payment.capture_options", "The payment.capture_options field is required.")
	}
	if e := opts.extra("automatic_expiry_period", "manual_expiry_period", "refund_speed"); e != nil {
		e.field, e.description = "payment.capture_options."+e.field, "payment.capture_options."+e.description
		return false, e
	}
	auto, hasAuto, e := opts.integer("automatic_expiry_period")
	if e != nil {
		e.field = "payment.capture_options.automatic_expiry_period"
		return false, e
	}
	if capture == "automatic" && !hasAuto {
		return false, rzpBad("payment.capture_options.automatic_expiry_period",
			"The automatic_expiry_period field is required when capture is automatic.")
	}
	if hasAuto && auto < 12 {
		return false, rzpBad("payment.capture_options.automatic_expiry_period",
			"The automatic_expiry_period must be at least 12 minutes.")
	}
	if man, ok, e := opts.integer("manual_expiry_period"); e != nil {
		e.field = "payment.capture_options.manual_expiry_period"
		return false, e
	} else if ok && (man > 7200 || man < 12 || (hasAuto && man < auto)) {
		return false, rzpBad("payment.capture_options.manual_expiry_period",
			"The manual_expiry_period must be between the automatic_expiry_period and 7200 minutes.")
	}
	speed, _, e := opts.str("refund_speed")
	if e != nil || (speed != "optimum" && speed != "normal") {
		return false, rzpBad("payment.capture_options.refund_speed",
			"The payment.capture_options.refund_speed field is required and must be optimum or normal.")
	}
	return capture == "manual", nil
}

// fetchOrder emulates GET /v1/orders/<id>.
func (rz *razorpay) fetchOrder(w http.ResponseWriter, id string) error {
	rz.mu.Lock()
	o := rz.orders[id]
	var ent rzpOrderEntity
	if o != nil {
		ent = o.entity()
	}
	rz.mu.Unlock()
	if o == nil {
		return rzpWriteError(w, rzpNotFound())
	}
	return rzpWriteJSON(w, http.StatusOK, ent)
}

// listOrders emulates GET /v1/orders with the receipt, from, to, count and
// skip filters, newest first.
func (rz *razorpay) listOrders(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, e := rzpPaging(q, "receipt", "from", "to")
	if e != nil {
		return rzpWriteError(w, e)
	}
	var from, to int64 = 0, 1<<62 - 1
	for name, dst := range map[string]*int64{"from": &from, "to": &to} {
		if s := q.Get(name); s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return rzpWriteError(w, rzpBad(name, "The "+name+" must be a unix timestamp."))
			}
			*dst = v
		}
	}
	_, byReceipt := q["receipt"]
	receipt := q.Get("receipt")
	rz.mu.Lock()
	var items []any
	for _, o := range slices.Backward(rz.orderList) {
		if byReceipt && (o.Receipt == nil || *o.Receipt != receipt) {
			continue
		}
		if o.CreatedAt < from || o.CreatedAt > to {
			continue
		}
		items = append(items, o.entity())
	}
	rz.mu.Unlock()
	return rzpWriteJSON(w, http.StatusOK, page.collection(items))
}

// orderPayments emulates GET /v1/orders/<id>/payments: every attempt on
// the order, newest first.
func (rz *razorpay) orderPayments(w http.ResponseWriter, r *http.Request, id string) error {
	page, e := rzpPaging(r.URL.Query())
	if e != nil {
		return rzpWriteError(w, e)
	}
	rz.mu.Lock()
	o := rz.orders[id]
	var items []any
	if o != nil {
		for _, p := range slices.Backward(o.Payments) {
			items = append(items, p.entity())
		}
	}
	rz.mu.Unlock()
	if o == nil {
		return rzpWriteError(w, rzpNotFound())
	}
	return rzpWriteJSON(w, http.StatusOK, page.collection(items))
}

// rzpPage is the count/skip window of a list request.
type rzpPage struct{ count, skip int }

// rzpPaging reads count (1..100, default 10) and skip (default 0) and
// refuses query parameters other than those and allowed.
func rzpPaging(q url.Values, allowed ...string) (rzpPage, *rzpError) {
	for name := range q {
		if name != "count" && name != "skip" && !slices.Contains(allowed, name) {
			e := rzpBad(name, name+" is/are not required and should not be sent")
			e.reason = "extra_field_sent"
			return rzpPage{}, e
		}
	}
	p := rzpPage{count: 10}
	if s := q.Get("count"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			return p, rzpBad("count", "The count must be between 1 and 100.")
		}
		p.count = v
	}
	if s := q.Get("skip"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return p, rzpBad("skip", "The skip must be at least 0.")
		}
		p.skip = v
	}
	return p, nil
}

// collection applies the window to items (already newest first).
func (p rzpPage) collection(items []any) rzpCollection {
	if p.skip >= len(items) {
		items = nil
	} else {
		items = items[p.skip:]
	}
	if len(items) > p.count {
		items = items[:p.count]
	}
	if items == nil {
		items = []any{}
	}
	return rzpCollection{Entity: "collection", Count: len(items), Items: items}
}
