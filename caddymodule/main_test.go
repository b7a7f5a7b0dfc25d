package caddymodule

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// caddytest skips silently when its prerequisites are missing. Every
// real-Caddy test counts itself as started before it loads its config and
// as ran once the config is running; under CI (CI=true) or with
// PAYMENTS_REQUIRE_INTEGRATION=1, a run in which a started test did not
// run fails instead of passing with nothing tested.
var integrationStarted, integrationRan atomic.Int32

func TestMain(m *testing.M) {
	openAPIReport := installOpenAPICheck() // see openapi_test.go
	code := m.Run()
	required := os.Getenv("CI") == "true" || os.Getenv("PAYMENTS_REQUIRE_INTEGRATION") == "1"
	if c := openAPIReport(required, integrationRan.Load()); code == 0 {
		code = c
	}
	if code == 0 && required && integrationRan.Load() < integrationStarted.Load() {
		fmt.Fprintf(os.Stderr, "FAIL: %d of %d real-Caddy integration tests were skipped (caddytest prerequisites missing, or -short), but CI requires them\n",
			integrationStarted.Load()-integrationRan.Load(), integrationStarted.Load())
		code = 1
	}
	os.Exit(code)
}
