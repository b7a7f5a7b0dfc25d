package pgtest

import "testing"

// TestStartStop starts a cluster, runs a query through psql and stops it.
func TestStartStop(t *testing.T) {
	s := StartT(t, Options{})
	out, err := s.Exec("", "SELECT 40+2")
	if err != nil || out != "42" {
		t.Fatalf("SELECT = %q, %v", out, err)
	}
	if err := s.Restart("immediate"); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Exec("", "SELECT 1"); err != nil || out != "1" {
		t.Fatalf("after restart: %q, %v", out, err)
	}
}
