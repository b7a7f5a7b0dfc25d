package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
)

// idempotencyTTL is how long an Idempotency-Key and its response are kept.
const idempotencyTTL = 24 * time.Hour

// withIdempotency gives POST /payments, POST /payments/{id}/refunds and
// POST /payouts Stripe's Idempotency-Key semantics:
//
//   - the same key with the same request replays the stored response
//     (status and body, errors included once the provider was called),
//     marked with the header Idempotent-Replayed: true;
//   - the same key with a different request is 409 idempotency_conflict;
//   - a duplicate that arrives while the first is still in flight is 409
//     idempotency_conflict (code request_in_progress, retryable): it never
//     reaches the provider, and the merchant retries after a moment;
//   - a response in which nothing was executed (a canonical error with
//     request_sent "no": validation, an unreachable provider) is not
//     stored, so the merchant can correct the request and reuse the key.
//
// Keys are scoped by the route's identity, canon (its canonical path with
// the argument: /payments/{id}/refunds and /payments/{id}/refunds/ are one
// route, so one key), never by the raw path, and kept for idempotencyTTL.
// They are not scoped by API key, so a retry sent with a rotated token
// still replays. A request with no key runs as is.
func (h *Handler) withIdempotency(w http.ResponseWriter, r *http.Request, canon string, run func(http.ResponseWriter, *http.Request) error) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return run(w, r)
	}
	if len(key) > 255 || !visibleASCII(key) {
		return writeError(w, providers.Invalid("Idempotency-Key", "the Idempotency-Key header must be 1-255 visible ASCII characters"))
	}
	body, e := h.readBody(w, r)
	if e != nil {
		return writeError(w, e)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	ctx := r.Context()
	storeKey := "idem:" + canon + ":" + key
	fp := fingerprint(body)
	rec, started, err := h.store.BeginIdempotent(ctx, storeKey, fp, idempotencyTTL)
	if err != nil {
		h.logger.Error("reading idempotency key", zap.Error(err))
		return writeError(w, providers.Internal("the Idempotency-Key could not be checked; nothing was sent"))
	}
	if !started {
		switch {
		case rec.Fingerprint != fp:
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "idempotency_key_reused",
				Message: "this Idempotency-Key was already used with a different request", RequestSent: providers.SentNo})
		case !rec.Done && time.Since(rec.Started) < h.staleAfter():
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "request_in_progress",
				Message: "a request with this Idempotency-Key is still being processed; retry in a moment", RequestSent: providers.SentNo, Retryable: true})
		case !rec.Done:
			// The first attempt never finished (the gateway stopped
			// mid-request): its outcome is unknown, so it is not retried.
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "outcome_unknown",
				Message:     "the first request with this Idempotency-Key did not finish; its outcome is unknown: find the object by provider and reference",
				RequestSent: providers.SentUnknown})
		}
		w.Header().Set("Content-Type", rec.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.Body)))
		w.WriteHeader(rec.Status)
		_, err := w.Write(rec.Body)
		return err
	}

	rw := &recordingWriter{ResponseWriter: w}
	runErr := run(rw, r)
	// The outcome is recorded even when the client went away: neither a
	// canceled request nor a failed write of the answer (runErr) frees a
	// key whose request reached the provider.
	ctx = context.WithoutCancel(ctx)
	if rw.status != 0 && !nothingExecuted(rw.status, rw.body.Bytes()) {
		if err := h.store.FinishIdempotent(ctx, storeKey, rw.status, rw.Header().Get("Content-Type"), rw.body.Bytes()); err != nil {
			h.logger.Error("storing idempotent response", zap.Error(err))
		}
		return nil
	}
	if err := h.store.AbandonIdempotent(ctx, storeKey); err != nil {
		h.logger.Error("freeing idempotency key", zap.Error(err))
	}
	return runErr
}

// staleAfter is how long an in-flight request may take before its
// outcome counts as unknown: the provider timeout plus a margin (a create
// can make two provider calls).
func (h *Handler) staleAfter() time.Duration {
	return 2*h.doer.Timeout + time.Minute
}

// nothingExecuted reports whether a response is a canonical error for
// which nothing reached a provider.
func nothingExecuted(status int, body []byte) bool {
	if status < 400 {
		return false
	}
	var out struct {
		Error struct {
			RequestSent string `json:"request_sent"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &out) == nil && out.Error.RequestSent == providers.SentNo
}

// fingerprint identifies a request body independently of JSON key order
// and white space (encoding/json writes map keys sorted); a body that is
// not JSON is fingerprinted as is.
func fingerprint(body []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		if canon, err := json.Marshal(v); err == nil {
			body = canon
		}
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// recordingWriter passes a response through and keeps a copy of it.
type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (rw *recordingWriter) WriteHeader(status int) {
	if rw.status == 0 {
		rw.status = status
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *recordingWriter) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	rw.body.Write(p)
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recordingWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
