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

// sandboxTxns reads every transaction the sandbox holds.
func sandboxTxns(base string) ([]sandboxTxn, error) {
	resp, err := http.Get(base + "/sandbox/payabl/_sandbox/payments")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sandbox listing: %d", resp.StatusCode)
	}
	var out struct {
		Payments []sandboxTxn `json:"payments"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Payments, err
}

// noticeStats counts notifications: sent, repeated (the same notification
// sent again: same type, code, state and timestamp, as magic 1414 does)
// and not acknowledged with payabl's "OK".
func noticeStats(txns []sandboxTxn) (sent, repeated, unacked int) {
	for _, t := range txns {
		seen := map[sandboxNotice]bool{}
		for _, n := range t.Notifications {
			sent++
			if !n.Acknowledged {
				unacked++
			}
			k := sandboxNotice{Type: n.Type, ErrorCode: n.ErrorCode, PaymentState: n.PaymentState, Timestamp: n.Timestamp}
			if seen[k] {
				repeated++
			}
			seen[k] = true
		}
	}
	return sent, repeated, unacked
}
