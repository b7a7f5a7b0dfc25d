package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const adminBase = "http://localhost:2999"

// adminReq calls Caddy's admin API and decodes its JSON answer.
func adminReq(t *testing.T, method, path string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	// Admin answers are not the canonical API's: the OpenAPI check
	// leaves them alone.
	req, _ := http.NewRequest(method, adminBase+path, rd)
	req = notGateway(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// TestAdminOutboxTools: with the shop down, events wait in the outbox.
// The admin API (admin.api.payments) and the `caddy payments` commands
// list them with their last error, redeliver one at once (the shop, back,
// receives it), drop others (gone from the outbox, in the dropped
// listing, logged at WARN), and answer bad input with canonical errors.
func TestAdminOutboxTools(t *testing.T) {
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	sh.status.Store(503)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	globals := fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tformat json\n\t}\n", logFile)
	// One retry an hour: nothing is redelivered unless asked to.
	loadCaddyWith(t, globals, fakeSite(t, 9080, fsrv.URL, sh.srv.URL,
		fmt.Sprintf("retry_schedule 1h\nstorage_path %s", filepath.Join(t.TempDir(), "state.db"))))

	// Three failed payments: three payment.failed events the shop refuses.
	eventOf := map[string]string{} // payment id → event id
	var events []string
	for i := range 3 {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment(fmt.Sprintf("ORD-ADM-%d", i), 1000+int64(i)))
		if code != 201 {
			t.Fatal(code, pay)
		}
		if sent, err := fs.Checkout(context.Background(), pay["provider_reference"].(string), false); err != nil || len(sent) != 1 || sent[0].StatusCode != 200 {
			t.Fatalf("checkout: %+v, %v", sent, err)
		}
		id := pay["id"].(string)
		for _, ev := range sh.Events() {
			if bytes.Contains(ev.Body, []byte(`"id":"`+id+`"`)) {
				eventOf[id] = ev.Header.Get("webhook-id")
			}
		}
		if eventOf[id] == "" {
			t.Fatalf("the shop saw no first attempt for %s", id)
		}
		events = append(events, eventOf[id])
	}

	code, _, gws := adminReq(t, "GET", "/payments/gateways", nil)
	if code != 200 || !strings.Contains(fmt.Sprint(gws["data"]), "http://localhost:9080") {
		t.Fatalf("gateways: %d %v", code, gws)
	}

	code, _, ob := adminReq(t, "GET", "/payments/outbox", nil)
	if code != 200 || ob["depth"] != float64(3) || ob["gateway"] != "http://localhost:9080" || ob["oldest_created_at"] == nil {
		t.Fatalf("outbox: %d %v", code, ob)
	}
	listedIDs := map[string]bool{}
	for _, x := range ob["data"].([]any) {
		e := x.(map[string]any)
		listedIDs[e["event_id"].(string)] = true
		if e["attempts"] != float64(1) || !strings.Contains(e["last_error"].(string), "503") || e["event_type"] != "payment.failed" || e["provider"] != "fake" {
			t.Fatalf("listed entry %v: want attempts 1, the shop's 503 as last error, type and provider", e)
		}
		if _, has := e["body"]; has {
			t.Fatalf("a listing shows an event body: %v", e)
		}
	}
	for _, id := range events {
		if !listedIDs[id] {
			t.Fatalf("event %s not listed: %v", id, ob["data"])
		}
	}
	// Paging: one entry per page, then the next.
	code, _, p1 := adminReq(t, "GET", "/payments/outbox?limit=1&gateway=http://localhost:9080", nil)
	if code != 200 || len(p1["data"].([]any)) != 1 || p1["has_more"] != true || p1["next_cursor"] == "" {
		t.Fatalf("page 1: %d %v", code, p1)
	}

	// The command's table shows the same, last error included.
	var out bytes.Buffer
	cli := adminOpts{addr: "localhost:2999"}
	if err := cliOutbox(cli, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{"3 queued", "LAST ERROR", "503", "payment.failed"}, events...) {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("caddy payments outbox output lacks %q:\n%s", want, out.String())
		}
	}

	// Redeliver now: the shop is back and receives that event (and only it).
	sh.status.Store(200)
	code, _, rd := adminReq(t, "POST", "/payments/outbox/"+events[0]+"/redeliver", nil)
	if code != 202 || rd["event_id"] != events[0] {
		t.Fatalf("redeliver: %d %v", code, rd)
	}
	accepted := func(id string) bool {
		for _, ev := range sh.Events() {
			if ev.Header.Get("webhook-id") == id && ev.Status == 200 && ev.Verified == nil {
				return true
			}
		}
		return false
	}
	waitFor(t, "the redelivered event at the shop", func() bool { return accepted(events[0]) })
	waitFor(t, "the delivered event out of the outbox", func() bool {
		_, _, ob := adminReq(t, "GET", "/payments/outbox", nil)
		return ob["depth"] == float64(2)
	})
	if accepted(events[1]) || accepted(events[2]) {
		t.Fatal("events not asked for were redelivered")
	}
	// The command redelivers too (by its event id, an unknown one is an error).
	if err := cliRedeliver(cli, []string{"evt_unknown"}, io.Discard); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "no event evt_unknown is queued") {
		t.Fatalf("redeliver of an unknown event: %v", err)
	}

	// Drop on the API: a reason is required; then the entry is gone,
	// recorded and logged.
	code, _, e := adminReq(t, "POST", "/payments/outbox/"+events[1]+"/drop", map[string]string{})
	if code != 400 || errField(e, "field") != "reason" {
		t.Fatalf("drop without a reason: %d %v", code, e)
	}
	code, _, dr := adminReq(t, "POST", "/payments/outbox/"+events[1]+"/drop", map[string]string{"reason": "order cancelled by hand", "by": "alice"})
	if code != 200 || dr["event_id"] != events[1] || dr["reason"] != "order cancelled by hand" || !strings.HasPrefix(dr["by"].(string), "alice") {
		t.Fatalf("drop: %d %v", code, dr)
	}
	code, _, e = adminReq(t, "POST", "/payments/outbox/"+events[1]+"/drop", map[string]string{"reason": "again"})
	if code != 404 || errField(e, "type") != "not_found" {
		t.Fatalf("second drop: %d %v", code, e)
	}
	// The command drops the last one (it needs --reason).
	if err := cliDrop(cli, []string{events[2]}, io.Discard); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("drop without --reason: %v", err)
	}
	out.Reset()
	if err := cliDrop(adminOpts{addr: cli.addr, reason: "duplicate of a manual refund", by: "bob"}, []string{events[2]}, &out); err != nil || !strings.Contains(out.String(), "dropped") {
		t.Fatalf("caddy payments drop: %v\n%s", err, out.String())
	}
	_, _, ob = adminReq(t, "GET", "/payments/outbox", nil)
	if ob["depth"] != float64(0) || len(ob["data"].([]any)) != 0 || ob["oldest_created_at"] != nil {
		t.Fatalf("outbox after the drops: %v", ob)
	}
	code, _, dl := adminReq(t, "GET", "/payments/outbox/dropped", nil)
	if code != 200 || len(dl["data"].([]any)) != 2 {
		t.Fatalf("dropped listing: %d %v", code, dl)
	}
	out.Reset()
	if err := cliDropped(cli, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{events[1], events[2], "order cancelled by hand", "duplicate of a manual refund", "alice", "bob"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("caddy payments dropped output lacks %q:\n%s", want, out.String())
		}
	}
	waitFor(t, "the drops in Caddy's log at WARN", func() bool {
		raw, _ := os.ReadFile(logFile)
		n := 0
		for _, line := range bytes.Split(raw, []byte("\n")) {
			var l map[string]any
			if json.Unmarshal(line, &l) == nil && l["level"] == "warn" && strings.Contains(fmt.Sprint(l["msg"]), "dropped from the outbox") &&
				(l["event_id"] == events[1] && l["reason"] == "order cancelled by hand" || l["event_id"] == events[2] && l["reason"] == "duplicate of a manual refund") {
				n++
			}
		}
		return n == 2
	})

	// Bad input: canonical errors.
	for _, c := range []struct {
		method, path string
		status       int
		typ, field   string
		allow        string
	}{
		{"GET", "/payments/outbox?gateway=https://nope.example", 404, "not_found", "gateway", ""},
		{"POST", "/payments/outbox/evt_nope/redeliver", 404, "not_found", "", ""},
		{"POST", "/payments/outbox/evt_nope/drop?gateway=http://localhost:9080", 400, "invalid_request", "", ""}, // no JSON body
		{"GET", "/payments/outbox/evt_nope", 404, "not_found", "", ""},
		{"GET", "/payments/outbox?limit=500", 400, "invalid_request", "limit", ""},
		{"GET", "/payments/outbox?cursor=bogus!", 400, "invalid_request", "cursor", ""},
		{"GET", "/payments/nothing", 404, "not_found", "", ""},
		{"GET", "/payments/outbox/" + events[0] + "/redeliver", 405, "invalid_request", "", "POST"},
		{"DELETE", "/payments/outbox", 405, "invalid_request", "", "GET"},
		{"POST", "/payments/gateways", 405, "invalid_request", "", "GET"},
	} {
		code, h, e := adminReq(t, c.method, c.path, nil)
		if code != c.status || errField(e, "type") != c.typ || (c.field != "" && errField(e, "field") != c.field) || h.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow=%q %v; want %d %s field %q Allow %q", c.method, c.path, code, h.Get("Allow"), e, c.status, c.typ, c.field, c.allow)
		}
		if code == 405 && errField(e, "code") != "method_not_allowed" {
			t.Errorf("%s %s: code %v", c.method, c.path, errField(e, "code"))
		}
	}
	if err := cliOutbox(adminOpts{addr: cli.addr, gateway: "https://nope.example"}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "no running payments gateway has public_url https://nope.example") {
		t.Fatalf("caddy payments outbox --gateway unknown: %v", err)
	}

	// The subcommands as `caddy payments …` runs them (flags, admin address).
	out.Reset()
	c := adminCommand("gateways", "", "", 0, cliGateways)
	c.SetOut(&out)
	c.SetArgs([]string{"--address", "localhost:2999"})
	if err := c.Execute(); err != nil || !strings.Contains(out.String(), "http://localhost:9080") || !strings.Contains(out.String(), "fake") {
		t.Fatalf("caddy payments gateways: %v\n%s", err, out.String())
	}
	out.Reset()
	c = adminCommand("dropped", "", "", 0, cliDropped)
	c.SetOut(&out)
	c.SetArgs([]string{"--address", "localhost:2999", "--gateway", "http://localhost:9080", "--limit", "1"})
	if err := c.Execute(); err != nil || !strings.Contains(out.String(), "more: --cursor ") {
		t.Fatalf("caddy payments dropped --limit 1: %v\n%s", err, out.String())
	}
}
