//go:build unix

package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// sandboxTxn is one transaction as the sandbox's inspection endpoint lists
// it (GET <prefix>/payabl/_sandbox/payments).
type sandboxTxn struct {
	TransactionID string          `json:"transactionid"`
	Type          string          `json:"type"` // capture, refund, cft
	OrderID       string          `json:"orderid"`
	AmountMinor   int64           `json:"amount_minor"`
	Status        int             `json:"status"`
	PaymentState  string          `json:"payment_state"`
	Refunded      int64           `json:"refunded_minor"`
	Parent        string          `json:"parent_transactionid"`
	Notifications []sandboxNotice `json:"notifications"`
}

// sandboxNotice is one notification the sandbox sent and how it was answered.
type sandboxNotice struct {
	Type         string `json:"type"`
	ErrorCode    string `json:"errorcode"`
	PaymentState string `json:"payment_state"`
	Timestamp    int64  `json:"timestamp"`
	HTTPStatus   int    `json:"http_status"`
	Acknowledged bool   `json:"acknowledged"`
	Error        string `json:"error"`
}

// rzpListing is the Razorpay sandbox's inspection listing
// (GET <prefix>/razorpay/_sandbox/payments): every order, and every
// payment attempt with its refunds and webhook deliveries.
type rzpListing struct {
	Orders []struct {
		ID         string  `json:"id"`
		Receipt    *string `json:"receipt"`
		Amount     int64   `json:"amount"`
		AmountPaid int64   `json:"amount_paid"`
		Status     string  `json:"status"`
	} `json:"orders"`
	Payments []struct {
		Payment struct {
			ID             string  `json:"id"`
			OrderID        *string `json:"order_id"`
			Amount         int64   `json:"amount"`
			Status         string  `json:"status"`
			Captured       bool    `json:"captured"`
			AmountRefunded int64   `json:"amount_refunded"`
		} `json:"payment"`
		CreatedVia string `json:"created_via"`
		Refunds    []struct {
			ID     string `json:"id"`
			Amount int64  `json:"amount"`
			Status string `json:"status"`
		} `json:"refunds"`
		Webhooks []struct {
			Event        string `json:"event"`
			EventID      string `json:"event_id"`
			HTTPStatus   int    `json:"http_status"`
			Acknowledged bool   `json:"acknowledged"`
		} `json:"webhooks"`
	} `json:"payments"`
}

// psListing is the PaySage sandbox's inspection listing
// (GET <prefix>/paysage/_sandbox/payments): every transaction, payments
// and refunds, with webhook deliveries.
type psListing struct {
	Payments []struct {
		UID        string `json:"uid"`
		Type       string `json:"type"` // payment, refund
		Status     string `json:"status"`
		TrackingID string `json:"tracking_id"`
		Amount     int64  `json:"amount"`
		Refunded   int64  `json:"refunded"`
		ParentUID  string `json:"parent_uid"`
		Webhooks   []struct {
			Status           string `json:"status"`
			ContentSignature string `json:"content_signature"`
			HTTPStatus       int    `json:"http_status"`
			Acknowledged     bool   `json:"acknowledged"`
		} `json:"webhooks"`
	} `json:"payments"`
}

// sandboxState is everything the three emulated providers hold at the end.
type sandboxState struct {
	payabl   []sandboxTxn
	razorpay rzpListing
	paysage  psListing
}

// readSandbox reads the three providers' inspection listings.
func readSandbox(base string) (sandboxState, error) {
	var st sandboxState
	var err error
	if st.payabl, err = sandboxTxns(base); err != nil {
		return st, fmt.Errorf("payabl: %w", err)
	}
	if err := getJSON(base+"/sandbox/razorpay/_sandbox/payments", &st.razorpay); err != nil {
		return st, fmt.Errorf("razorpay: %w", err)
	}
	if err := getJSON(base+"/sandbox/paysage/_sandbox/payments", &st.paysage); err != nil {
		return st, fmt.Errorf("paysage: %w", err)
	}
	return st, nil
}

// sandboxTxns reads every transaction the payabl. sandbox holds.
func sandboxTxns(base string) ([]sandboxTxn, error) {
	var out struct {
		Payments []sandboxTxn `json:"payments"`
	}
	err := getJSON(base+"/sandbox/payabl/_sandbox/payments", &out)
	return out.Payments, err
}

// getJSON reads a sandbox listing into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox listing %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// noticeStats counts the notifications all three sandboxes sent: sent,
// repeated (the same notification sent again, as magic 1414 does: for
// payabl. the same type, code, state and timestamp; for Razorpay the same
// X-Razorpay-Event-Id; for PaySage the same status and signature, i.e.
// the same bytes) and not acknowledged (payabl.'s "OK", Razorpay's 2xx,
// PaySage's 200).
func (st sandboxState) noticeStats() (sent, repeated, unacked int) {
	count := func(first, acked bool) {
		sent++
		if !first {
			repeated++
		}
		if !acked {
			unacked++
		}
	}
	for _, t := range st.payabl {
		seen := map[sandboxNotice]bool{}
		for _, n := range t.Notifications {
			k := sandboxNotice{Type: n.Type, ErrorCode: n.ErrorCode, PaymentState: n.PaymentState, Timestamp: n.Timestamp}
			count(!seen[k], n.Acknowledged)
			seen[k] = true
		}
	}
	for _, p := range st.razorpay.Payments {
		seen := map[string]bool{}
		for _, w := range p.Webhooks {
			count(!seen[w.EventID], w.Acknowledged)
			seen[w.EventID] = true
		}
	}
	for _, t := range st.paysage.Payments {
		seen := map[[2]string]bool{}
		for _, w := range t.Webhooks {
			k := [2]string{w.Status, w.ContentSignature}
			count(!seen[k], w.Acknowledged)
			seen[k] = true
		}
	}
	return sent, repeated, unacked
}
