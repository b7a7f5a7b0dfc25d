package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/store"
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
//
// The key is claimed (BeginIdempotent) in a write of its own, durable
// before run is called, so a crash while the provider is being called
// leaves the key in flight (outcome unknown), never free for a second
// send. The response is then stored in one of two ways. A handler that
// makes durable writes for its answer (a create: the record, its check,
// its launch token) takes the request's pending completion (completionOf)
// into the same Store.Commit, so the record and the stored response
// are one write, made before the answer is sent. For every other answer
// (errors, handlers without such writes) the response is recorded as it
// is written and stored here afterwards (FinishIdempotent), or the key
// is freed when nothing was executed (AbandonIdempotent).
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
		return writeError(w, storeUnavailable("the Idempotency-Key could not be checked; nothing was sent")) // store_unavailable.go
	}
	if !started {
		route := "other"
		if rt := h.match(canon); rt != nil {
			route = rt.pattern // never the path: it holds ids
		}
		switch {
		case rec.Fingerprint != fp:
			h.metrics.countIdempotency(route, "key_reused")
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "idempotency_key_reused",
				Message: "this Idempotency-Key was already used with a different request", RequestSent: providers.SentNo})
		case !rec.Done && time.Since(rec.Started) < h.staleAfter():
			h.metrics.countIdempotency(route, "in_progress")
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "request_in_progress",
				Message: "a request with this Idempotency-Key is still being processed; retry in a moment", RequestSent: providers.SentNo, Retryable: true})
		case !rec.Done:
			// The first attempt never finished (the gateway stopped
			// mid-request): its outcome is unknown, so it is not retried.
			h.metrics.countIdempotency(route, "outcome_unknown")
			return writeError(w, &providers.Error{Type: providers.TypeIdempotencyConflict, Code: "outcome_unknown",
				Message:     "the first request with this Idempotency-Key did not finish; its outcome is unknown: find the object by provider and reference",
				RequestSent: providers.SentUnknown})
		}
		w.Header().Set("Content-Type", rec.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		h.metrics.countIdempotency(route, "replayed")
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.Body)))
		w.WriteHeader(rec.Status)
		_, err := w.Write(rec.Body)
		return err
	}

	ic := &idemCompletion{key: storeKey}
	r = r.WithContext(context.WithValue(r.Context(), idemCompletionKey{}, ic))
	rw := &recordingWriter{ResponseWriter: w}
	runErr := run(rw, r)
	if ic.done {
		// The handler stored the response with its own writes.
		return nil
	}
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

// idemCompletion is the response a request with an Idempotency-Key still
// has to store under key. A handler that commits its final writes takes
// it into that Commit (commitAnswer) and sets done, and withIdempotency
// then stores nothing more.
type idemCompletion struct {
	key  string
	done bool
}

// idemCompletionKey is the request context key of the *idemCompletion.
type idemCompletionKey struct{}

// completionOf is the request's pending idempotency completion, or nil
// (no Idempotency-Key, or already stored).
func completionOf(r *http.Request) *idemCompletion {
	ic, _ := r.Context().Value(idemCompletionKey{}).(*idemCompletion)
	if ic == nil || ic.done {
		return nil
	}
	return ic
}

// encodeAnswer is the body writeJSON sends for v.
func encodeAnswer(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// writeAnswer sends a body from encodeAnswer with writeJSON's headers.
func writeAnswer(w http.ResponseWriter, status int, body []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// commitAnswer makes the writes of wr and, when the request has an
// Idempotency-Key, the storing of its answer (status and body, which the
// caller then sends with writeAnswer) as one Store.Commit. On success the
// completion is done; on failure nothing was written and withIdempotency
// stores whatever answer the caller sends instead. A commit that only
// lacks its replicas' acknowledgement (store.ErrNotReplicated) was
// written, and counts as done.
func (h *Handler) commitAnswer(ctx context.Context, r *http.Request, wr *store.Writes, status int, body []byte) error {
	ic := completionOf(r)
	if ic != nil {
		wr.Finish = &store.IdempotentFinish{Key: ic.key, Status: status, ContentType: "application/json", Body: body}
	}
	err := h.store.Commit(ctx, wr)
	if wr.Finish != nil && errors.Is(err, store.ErrNotFound) {
		// The key is gone (a Redis that evicts keys, say): the record
		// must not go with it. withIdempotency reports the key.
		wr.Finish = nil
		err = h.store.Commit(ctx, wr)
	}
	if errors.Is(err, store.ErrNotReplicated) {
		// Written on the primary, but fewer replicas than asked for
		// acknowledged it in time (storage redis replicas): the answer,
		// already stored, is the truth and is sent; only a failover in
		// the next moments could lose the record (a notification or a
		// lookup by reference at the provider then brings it back).
		h.logger.Warn("commit not acknowledged by enough Redis replicas; answered as written", zap.Error(err))
		err = nil
	}
	if err != nil || wr.Finish == nil {
		wr.Finish = nil
		return err
	}
	ic.done = true
	return nil
}

// staleAfter is how long an in-flight request may take before its
// outcome counts as unknown: the provider timeout plus a margin (a create
// can make two provider calls), and a timeout more for each account a
// routed create may fail over from (routing.go).
func (h *Handler) staleAfter() time.Duration {
	return time.Duration(1+h.longestRoute())*h.doer.Timeout + time.Minute
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
