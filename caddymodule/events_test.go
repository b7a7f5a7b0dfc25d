package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/internal/redistest"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

const (
	eventsReaderToken = "events-reader-0123456789abcdef"
	eventsWriterToken = "events-writer-0123456789abcdef"
)

// eventsGateway starts Caddy with the fake provider in front of a shop,
// with api_token testToken and two api_keys: reader (events:read) and
// writer (events:write payments:read); storage is the storage option.
func eventsGateway(t *testing.T, storage string) (*fake.Server, *shop) {
	t.Helper()
	fs := fake.NewServer(fakeSecret)
	fsrv := httptest.NewServer(fs)
	t.Cleanup(fsrv.Close)
	sh := newShop(t)
	t.Setenv("PAYMENTS_KEY_EV_READ", eventsReaderToken)
	t.Setenv("PAYMENTS_KEY_EV_WRITE", eventsWriterToken)
	loadCaddy(t, fakeSite(t, 9080, fsrv.URL, sh.srv.URL, fmt.Sprintf(
		"api_key reader {env.PAYMENTS_KEY_EV_READ} events:read\n"+
			"api_key writer {env.PAYMENTS_KEY_EV_WRITE} events:write payments:read\n"+
			"timeout 2s\nretry_schedule 200ms\nevent_retention 24h\n%s", storage)))
	return fs, sh
}

// listing is a decoded GET /events or GET /payments answer.
type listing struct {
	Object     string            `json:"object"`
	Data       []json.RawMessage `json:"data"`
	HasMore    bool              `json:"has_more"`
	NextCursor string            `json:"next_cursor"`
}

func getList(t *testing.T, token, path string) listing {
	t.Helper()
	code, _, raw := send(t, "GET", path, token, "", nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, raw)
	}
	var l listing
	if err := json.Unmarshal(raw, &l); err != nil || l.Object != "list" {
		t.Fatalf("GET %s: not a list: %s", path, raw)
	}
	return l
}

// ids are the "id" fields of a listing's data.
func (l listing) ids(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, d := range l.Data {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.ID)
	}
	return out
}

// TestEventsAPI drives payments through the fake provider so that the
// gateway forwards events to the shop, then reads them back through the
// Events API (newest first, cursor pages, filters), compares one with what
// the shop received byte for byte, redelivers it (the shop gets the same
// webhook-id again, freshly signed), lists payments, and checks scopes and
// bad parameters.
func TestEventsAPI(t *testing.T) {
	fs, sh := eventsGateway(t, "storage_path "+filepath.Join(t.TempDir(), "state.db"))
	testEventsAPI(t, fs, sh)
}

// TestEventsAPIRedis is TestEventsAPI on the Redis store.
func TestEventsAPIRedis(t *testing.T) {
	addr := redistest.StartT(t, "--requirepass", redisTestPassword).Addr
	t.Setenv("PAYMENTS_TEST_REDIS_PASSWORD", redisTestPassword)
	fs, sh := eventsGateway(t, fmt.Sprintf("storage redis %s {\npassword {env.PAYMENTS_TEST_REDIS_PASSWORD}\nkey_prefix evtest:\n}", addr))
	testEventsAPI(t, fs, sh)
}

func testEventsAPI(t *testing.T, fs *fake.Server, sh *shop) {
	ctx := context.Background()

	// Three payments: two approved (processing and succeeded events), one
	// declined (a failed event).
	var pays []map[string]any
	for i, approve := range []bool{true, true, false} {
		code, pay := api(t, "POST", "/payments", testToken, fakePayment(fmt.Sprintf("ORD-EV-%d", i+1), int64(1000+i)))
		if code != 201 {
			t.Fatalf("create: %d %v", code, pay)
		}
		if _, err := fs.Checkout(ctx, pay["provider_reference"].(string), approve); err != nil {
			t.Fatal(err)
		}
		pays = append(pays, pay)
	}
	waitFor(t, "5 events at the shop", func() bool { return len(sh.Events()) >= 5 })
	shopEvents := sh.Events()
	if len(shopEvents) != 5 {
		t.Fatalf("shop got %d events, want 5", len(shopEvents))
	}
	var forwarded []string // webhook ids in the order the shop got them
	bodyOf := map[string][]byte{}
	for _, ev := range shopEvents {
		id := ev.Header.Get("webhook-id")
		forwarded = append(forwarded, id)
		bodyOf[id] = ev.Body
	}
	newestFirst := slices.Clone(forwarded)
	slices.Reverse(newestFirst)

	t.Run("list newest first with cursor pages", func(t *testing.T) {
		p1 := getList(t, eventsReaderToken, "/events?limit=3")
		if got := p1.ids(t); !slices.Equal(got, newestFirst[:3]) || !p1.HasMore || p1.NextCursor == "" {
			t.Fatalf("page 1 = %v (has_more %v, cursor %q), want %v", got, p1.HasMore, p1.NextCursor, newestFirst[:3])
		}
		// An event forwarded between the pages does not disturb the walk.
		code, pay := api(t, "POST", "/payments", testToken, fakePayment("ORD-EV-4", 1004))
		if code != 201 {
			t.Fatalf("create: %d %v", code, pay)
		}
		if _, err := fs.Checkout(ctx, pay["provider_reference"].(string), true); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "7 events at the shop", func() bool { return len(sh.Events()) >= 7 })
		p2 := getList(t, eventsReaderToken, "/events?limit=3&cursor="+url.QueryEscape(p1.NextCursor))
		if got := p2.ids(t); !slices.Equal(got, newestFirst[3:]) || p2.HasMore || p2.NextCursor != "" {
			t.Fatalf("page 2 = %v (has_more %v, cursor %q), want %v", got, p2.HasMore, p2.NextCursor, newestFirst[3:])
		}
		// Listed data is the forwarded event (as JSON; GET /events/{id}
		// gives the very bytes).
		var listed, sent map[string]any
		_ = json.Unmarshal(p2.Data[0], &listed)
		_ = json.Unmarshal(bodyOf[newestFirst[3]], &sent)
		if fmt.Sprint(listed) != fmt.Sprint(sent) {
			t.Fatalf("listed event %s, forwarded %s", p2.Data[0], bodyOf[newestFirst[3]])
		}
	})

	t.Run("filters", func(t *testing.T) {
		pay1 := pays[0]["id"].(string)
		got := getList(t, eventsReaderToken, "/events?object_id="+pay1).ids(t)
		want := []string{newestFirst[3], newestFirst[4]}
		if !slices.Equal(got, want) {
			t.Fatalf("object_id %s: %v, want %v", pay1, got, want)
		}
		l := getList(t, eventsReaderToken, "/events?type=payment.failed")
		if len(l.Data) != 1 || !strings.Contains(string(l.Data[0]), pays[2]["id"].(string)) {
			t.Fatalf("type=payment.failed: %s", l.Data)
		}
		if n := len(getList(t, eventsReaderToken, "/events?type=payment.succeeded&provider=fake").Data); n != 3 {
			t.Fatalf("type=payment.succeeded&provider=fake: %d events, want 3", n)
		}
		if n := len(getList(t, eventsReaderToken, "/events?provider=nope").Data); n != 0 {
			t.Fatalf("provider=nope: %d events", n)
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if n := len(getList(t, eventsReaderToken, "/events?created_gte="+future).Data); n != 0 {
			t.Fatalf("created_gte in the future: %d events", n)
		}
		if n := len(getList(t, eventsReaderToken, "/events?limit=100&created_lt="+future).Data); n != 7 {
			t.Fatalf("created_lt in the future: %d events, want 7", n)
		}
	})

	target := newestFirst[4] // the first event forwarded
	t.Run("get one, byte for byte", func(t *testing.T) {
		code, hdr, raw := send(t, "GET", "/events/"+target, eventsReaderToken, "", nil)
		if code != 200 || hdr.Get("Content-Type") != "application/json" || string(raw) != string(bodyOf[target]) {
			t.Fatalf("GET /events/%s: %d %s\n%s\nwant %s", target, code, hdr.Get("Content-Type"), raw, bodyOf[target])
		}
		code, _, raw = send(t, "GET", "/events/evt_nope", eventsReaderToken, "", nil)
		if code != 404 || !strings.Contains(string(raw), `"not_found"`) {
			t.Fatalf("unknown event: %d %s", code, raw)
		}
	})

	t.Run("redeliver", func(t *testing.T) {
		count := func() (n int) {
			for _, ev := range sh.Events() {
				if ev.Header.Get("webhook-id") == target {
					n++
				}
			}
			return n
		}
		before := count()
		code, _, raw := send(t, "POST", "/events/"+target+"/redeliver", eventsWriterToken, "", nil)
		if code != 202 {
			t.Fatalf("redeliver: %d %s", code, raw)
		}
		waitFor(t, "the redelivered event", func() bool { return count() == before+1 })
		var again shopEvent
		for _, ev := range sh.Events() {
			if ev.Header.Get("webhook-id") == target {
				again = ev
			}
		}
		if again.Verified != nil || string(again.Body) != string(bodyOf[target]) {
			t.Fatalf("redelivered event: verified %v, body %s", again.Verified, again.Body)
		}
		// Delivered once more, not more.
		time.Sleep(600 * time.Millisecond)
		if n := count(); n != before+1 {
			t.Fatalf("the shop got the event %d times after one redeliver, want %d", n, before+1)
		}
		code, _, raw = send(t, "POST", "/events/evt_nope/redeliver", eventsWriterToken, "", nil)
		if code != 404 {
			t.Fatalf("redeliver unknown: %d %s", code, raw)
		}
	})

	t.Run("scopes", func(t *testing.T) {
		for _, c := range []struct {
			method, path, token string
			want                int
		}{
			{"GET", "/events", eventsWriterToken, 403},
			{"GET", "/events/" + target, eventsWriterToken, 403},
			{"POST", "/events/" + target + "/redeliver", eventsReaderToken, 403},
			{"GET", "/payments", eventsReaderToken, 403},
			{"GET", "/payments", eventsWriterToken, 200},
			{"GET", "/events", "", 401},
			{"GET", "/events", testToken, 200},
		} {
			code, _, raw := send(t, c.method, c.path, c.token, "", nil)
			if code != c.want {
				t.Fatalf("%s %s with %.14s: %d %s, want %d", c.method, c.path, c.token, code, raw, c.want)
			}
			if code == 403 && !strings.Contains(string(raw), `"forbidden"`) {
				t.Fatalf("403 without error.type forbidden: %s", raw)
			}
		}
		code, hdr, _ := send(t, "DELETE", "/events", eventsReaderToken, "", nil)
		if code != 405 || hdr.Get("Allow") != "GET" {
			t.Fatalf("DELETE /events: %d, Allow %q", code, hdr.Get("Allow"))
		}
		code, hdr, _ = send(t, "GET", "/events/"+target+"/redeliver", eventsWriterToken, "", nil)
		if code != 405 || hdr.Get("Allow") != "POST" {
			t.Fatalf("GET redeliver: %d, Allow %q", code, hdr.Get("Allow"))
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, c := range []struct{ path, field string }{
			{"/events?limit=0", "limit"},
			{"/events?limit=101", "limit"},
			{"/events?limit=ten", "limit"},
			{"/events?cursor=garbage", "cursor"},
			{"/events?created_gte=yesterday", "created_gte"},
			{"/events?created_lt=2025-01-01", "created_lt"},
			{"/events?colour=red", "colour"},
			{"/events?type=a&type=b", "type"},
			{"/payments?status=settled", "status"},
			{"/payments?limit=500", "limit"},
			{"/payments?object_id=x", "object_id"},
		} {
			code, out := api(t, "GET", c.path, testToken, nil)
			if code != 400 || errField(out, "field") != c.field || errField(out, "type") != "invalid_request" {
				t.Fatalf("GET %s: %d %v; want 400 naming %s", c.path, code, out, c.field)
			}
		}
	})

	t.Run("list payments", func(t *testing.T) {
		// Newest first by (created_at, id): created_at has whole seconds.
		type pc struct{ id, created string }
		var all []pc
		l := getList(t, testToken, "/payments?limit=100")
		for _, d := range l.Data {
			var p struct {
				ID        string `json:"id"`
				Object    string `json:"object"`
				CreatedAt string `json:"created_at"`
			}
			_ = json.Unmarshal(d, &p)
			if p.Object != "payment" {
				t.Fatalf("listed %s", d)
			}
			all = append(all, pc{p.ID, p.CreatedAt})
		}
		if len(all) != 4 {
			t.Fatalf("listed %d payments, want 4: %v", len(all), all)
		}
		if !slices.IsSortedFunc(all, func(a, b pc) int {
			if c := strings.Compare(b.created, a.created); c != 0 {
				return c
			}
			return strings.Compare(b.id, a.id)
		}) {
			t.Fatalf("not newest first: %v", all)
		}
		p1 := getList(t, testToken, "/payments?limit=3")
		p2 := getList(t, testToken, "/payments?limit=3&cursor="+url.QueryEscape(p1.NextCursor))
		if got := append(p1.ids(t), p2.ids(t)...); len(got) != 4 || !p1.HasMore || p2.HasMore || got[0] != all[0].id || got[3] != all[3].id {
			t.Fatalf("pages %v / %v, want %v", p1.ids(t), p2.ids(t), all)
		}
		failed := getList(t, testToken, "/payments?status=failed&provider=fake").ids(t)
		if !slices.Equal(failed, []string{pays[2]["id"].(string)}) {
			t.Fatalf("status=failed: %v", failed)
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if n := len(getList(t, testToken, "/payments?created_gte="+future).Data); n != 0 {
			t.Fatalf("created_gte in the future: %d payments", n)
		}
		// With reference, GET /payments still finds one payment.
		code, found := api(t, "GET", "/payments?provider=fake&reference=ORD-EV-1", testToken, nil)
		if code != 200 || found["id"] != pays[0]["id"] {
			t.Fatalf("find by reference: %d %v", code, found)
		}
	})
}
