package payabl

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// newStatusServer answers every request with status and a short body.
func newStatusServer(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte("error page"))
	}))
	t.Cleanup(srv.Close)
	return srv
}
