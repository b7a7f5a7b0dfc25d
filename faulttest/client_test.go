//go:build unix

package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// client is the merchant's side: canonical API calls with the API token,
// counted for the report.
type client struct {
	token string
	http  *http.Client

	requests   atomic.Int64 // every API request sent
	creates    atomic.Int64 // of which POST /payments
	replays    atomic.Int64 // answers with Idempotent-Replayed: true
	inProgress atomic.Int64 // 409 request_in_progress
	unknown    atomic.Int64 // 409 outcome_unknown
	storeDown  atomic.Int64 // 503 store_unavailable (nothing sent; retried as is)
	netErrors  atomic.Int64 // no HTTP answer at all
}

// answer is one API response.
type answer struct {
	status   int
	replayed bool
	body     map[string]any
	err      error // transport error; status is 0
	cut      bool  // the balancer's first try was cut off at an instance (see cutHeader)
}

// errCode is the answer's error.code ("" when it is not an error).
func (a answer) errCode() string { return a.errField("code") }

// errField is a field of the answer's error object.
func (a answer) errField(k string) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e[k].(string)
	return s
}

// str is a top-level string field of the answer.
func (a answer) str(k string) string {
	s, _ := a.body[k].(string)
	return s
}

// do sends one API request; key is the Idempotency-Key ("" for none).
func (c *client) do(ctx context.Context, method, url, key string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		c.netErrors.Add(1)
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, replayed: resp.Header.Get("Idempotent-Replayed") == "true", cut: resp.Header.Get(cutHeader) == "1"}
	_ = json.Unmarshal(raw, &a.body)
	if a.replayed {
		c.replays.Add(1)
	}
	switch a.errCode() {
	case "request_in_progress":
		c.inProgress.Add(1)
	case "outcome_unknown":
		c.unknown.Add(1)
	}
	return a
}

// pause sleeps for d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
