// Package faulttest holds the fault and load test of the payments gateway
// (issue #6 item 10). It has no library code: TestFaultAndLoad builds the
// real cmd/caddy binary, runs a sandbox emulating payabl., Razorpay and
// PaySage and two gateway instances that share Redis, puts a round-robin
// load balancer in front of the gateways and a flapping,
// signature-checking shop behind them, kills one instance mid-run, and
// checks, for payments with all three providers, that no event is lost and
// nothing (a payment, a refund, an announced status) takes effect twice.
//
// It runs only when asked, because it starts processes (and needs Debian's
// redis-server); it takes 20-80 seconds plus the build:
//
//	PAYMENTS_FAULT_TEST=1 go test -count=1 -v -run TestFaultAndLoad ./faulttest/
//
// Optional: PAYMENTS_FAULT_REPORT=<file> writes the report there (go test
// hides a passing test's output without -v); PAYMENTS_FAULT_LOGS=<dir>
// copies the three Caddy logs there; PAYMENTS_FAULT_STORE=bolt gives each
// gateway its own embedded store instead of Redis, which shows what the
// shared store prevents (that run fails with double effects);
// PAYMENTS_FAULT_STORE=postgres shares a PostgreSQL cluster the test
// starts (Debian's postgresql, as the postgres user when root) instead,
// and stops it immediately (a crash) and restarts it mid-run.
package faulttest
