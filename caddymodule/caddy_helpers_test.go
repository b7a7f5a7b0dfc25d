package caddymodule

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// loadCaddy loads sites (Caddyfile site blocks) into the in-process Caddy
// that every real-Caddy test in this package shares (admin localhost:2999,
// HTTP on :9080), counting the test as started and, once the config runs,
// as ran (see TestMain). It stops the test when Caddy could not load it.
func loadCaddy(t *testing.T, sites string) { loadCaddyWith(t, "", sites) }

// loadCaddyWith is loadCaddy with extra global options.
func loadCaddyWith(t *testing.T, globals, sites string) {
	t.Helper()
	integrationStarted.Add(1)
	tester := caddytest.NewTester(t)
	tester.InitServer(`
{
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	skip_install_trust
`+globals+`}
`+sites, "caddyfile")
	if t.Failed() || t.Skipped() {
		t.FailNow()
	}
	// A reload closes the previous config's connections: keep-alive
	// connections the tests' clients hold would answer EOF.
	http.DefaultClient.CloseIdleConnections()
	integrationRan.Add(1)
}
