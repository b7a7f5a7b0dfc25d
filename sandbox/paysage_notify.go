package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// psNotice is one webhook to send: the raw body is fixed when the state
// changes, so a duplicate (magic 1414) repeats it byte for byte.
type psNotice struct {
	uid       string
	status    string
	url       string
	body      []byte
	signature string
	duplicate bool
}

// psDelivery records one webhook attempt and how the receiver answered:
// its HTTP status, never the body of the answer.
type psDelivery struct {
	Status           string    `json:"status"`
	URL              string    `json:"url,omitempty"`
	ContentSignature string    `json:"content_signature,omitempty"`
	HTTPStatus       int       `json:"http_status,omitempty"`
	Error            string    `json:"error,omitempty"`
	Acknowledged     bool      `json:"acknowledged"`
	SentAt           time.Time `json:"sent_at"`
}

// noticeLocked renders and signs the webhook for t's current state.
// Caller holds p.mu.
func (p *paysage) noticeLocked(t *psTxn) (psNotice, error) {
	body, err := marshalPaysage(map[string]any{"transaction": p.wire(t)})
	if err != nil {
		return psNotice{}, err
	}
	sig, err := p.sign(body)
	if err != nil {
		return psNotice{}, err
	}
	return psNotice{uid: t.UID, status: t.Status, url: t.NotificationURL, body: body, signature: sig, duplicate: t.Duplicate}, nil
}

// send delivers n (twice when n.duplicate) and records each attempt on t.
// There is no retry: the sandbox-only "notify" action re-sends on demand.
// It runs in a goroutine started through env.goAsync.
func (p *paysage) send(ctx context.Context, t *psTxn, n psNotice) {
	times := 1
	if n.duplicate {
		times = 2
	}
	for range times {
		d := psDelivery{Status: n.status, URL: n.url, SentAt: time.Now().UTC()}
		if n.url == "" {
			// PaySage: "If it is not set, no notifications are sent."
			d.Error = "no notification_url was given; nothing sent"
		} else {
			d.ContentSignature = n.signature
			d.HTTPStatus, d.Error = p.post(ctx, n)
			d.Acknowledged = d.HTTPStatus == http.StatusOK
		}
		p.mu.Lock()
		t.Webhooks = append(t.Webhooks, d)
		p.mu.Unlock()
		p.env.logger.Debug("payments sandbox: paysage webhook",
			zap.String("uid", n.uid),
			zap.String("status", n.status),
			zap.Int("http_status", d.HTTPStatus),
			zap.Bool("acknowledged", d.Acknowledged),
			zap.String("error", d.Error))
	}
}

// post sends one webhook with both authentications PaySage offers: HTTP
// Basic shop_id:secret_key and the RSA Content-Signature of the raw body.
// It returns the receiver's status; the answer's body is never kept.
func (p *paysage) post(ctx context.Context, n psNotice) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(n.body))
	if err != nil {
		return 0, "building request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "caddy-payments-sandbox (paysage emulator)")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.shopID+":"+p.secretKey)))
	req.Header.Set("Content-Signature", n.signature)
	status, _, errText := p.env.deliver(req)
	return status, errText
}
