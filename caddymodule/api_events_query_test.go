package caddymodule

import (
	"net/url"
	"strings"
	"testing"
)

// A listing's refusal of a query parameter names it, but never echoes a
// client's arbitrarily long parameter name whole (in field or message).
func TestListQueryBoundsEchoedNames(t *testing.T) {
	long := strings.Repeat("x", 5000)
	for _, q := range []url.Values{
		{long: {"a"}},      // unknown parameter
		{long: {"a", "b"}}, // given twice
	} {
		_, e := listQuery(q, "type")
		if e == nil {
			t.Fatalf("%d-byte parameter name accepted", len(long))
		}
		if len(e.Field) > 64 || len(e.Message) > 200 {
			t.Fatalf("error echoes the parameter name whole: field %d bytes, message %d bytes", len(e.Field), len(e.Message))
		}
	}
	// Known parameters are still named exactly.
	if _, e := listQuery(url.Values{"limit": {"1", "2"}}); e == nil || e.Field != "limit" {
		t.Fatalf("limit twice: %v", e)
	}
}
