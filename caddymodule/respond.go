package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/caddy-payments/caddy-payments/providers"
)

// writeJSON answers with a JSON body. Canonical API answers are never
// cached.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// writeError answers with the canonical error body {"error": {...}}. Every
// failure, including 401, 405 and 413, gets this body, so merchants parse
// one shape.
func writeError(w http.ResponseWriter, err error) error {
	e := providers.AsError(err)
	return writeJSON(w, e.Status(), map[string]any{"error": e})
}

// readBody reads a request body capped at the handler's max_body. A body
// over the cap is a canonical 413; nothing is processed.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *providers.Error) {
	if r.ContentLength > h.maxBodySize {
		return nil, tooLarge(h.maxBodySize)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(h.maxBodySize)
		}
		return nil, &providers.Error{Type: providers.TypeInvalidRequest, Code: "unreadable_body",
			Message: "the request body could not be read", RequestSent: providers.SentNo}
	}
	return body, nil
}

func tooLarge(limit int64) *providers.Error {
	return &providers.Error{
		Type: providers.TypeInvalidRequest, Code: "body_too_large",
		Message:     "the request body is larger than the limit of " + formatBytes(limit),
		HTTPStatus:  http.StatusRequestEntityTooLarge,
		RequestSent: providers.SentNo,
	}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + " KiB"
	}
	return itoa(n) + " bytes"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
