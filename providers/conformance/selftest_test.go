package conformance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/conformance"
	"github.com/caddy-payments/caddy-payments/providers/fake"
)

// The suite is tested the only way a test suite can be: by running it
// against deliberately broken providers (mutants of the fake) and checking
// it fails, in the subtests that should catch each defect. Run needs a real
// *testing.T, so each mutant runs in a child process of this test binary.

const secret = "conformance-selftest-secret"

// newHarness builds a conforming harness around fake.Server.
func newHarness(t *testing.T) (conformance.Harness, *fake.Provider) {
	srv := fake.NewServer(secret)
	srv.SlowDelay = 3 * time.Second
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)
	prov, err := fake.New(api.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = prov.Acknowledge(w)
	}))
	t.Cleanup(receiver.Close)
	var seq atomic.Int64
	return conformance.Harness{
		Name:     "fake",
		Provider: prov,
		Doer:     &providers.HTTPDoer{Timeout: 5 * time.Second},
		Secrets:  []string{secret},
		NewPayment: func() *providers.CreatePayment {
			return &providers.CreatePayment{
				Reference: fmt.Sprintf("st-%d-%d", os.Getpid(), seq.Add(1)), Amount: 4000, Currency: "SEK",
				NotificationURL: receiver.URL,
			}
		},
		NewPayout: func() *providers.CreatePayout {
			return &providers.CreatePayout{
				Reference: fmt.Sprintf("po-%d", seq.Add(1)), Amount: 700, Currency: "SEK",
				BankAccount: &providers.BankAccount{Country: "SE", IBAN: "SE4550000000058398257466"},
			}
		},
		Decline:     func(r *providers.CreatePayment) { r.Amount = fake.AmountDecline },
		Garbage:     func(r *providers.CreatePayment) { r.Amount = fake.AmountGarbage },
		Slow:        func(r *providers.CreatePayment) { r.Amount = fake.AmountSlow },
		SlowTimeout: 200 * time.Millisecond,
		Complete: func(t *testing.T, p *providers.Payment, approve bool) []*providers.IncomingNotification {
			sent, err := srv.Checkout(context.Background(), p.ProviderReference, approve)
			if err != nil {
				t.Fatalf("checkout: %v", err)
			}
			var out []*providers.IncomingNotification
			for _, n := range sent {
				out = append(out, n.Incoming())
			}
			return out
		},
		Tamper: func(n *providers.IncomingNotification) *providers.IncomingNotification {
			c := *n
			c.Header = n.Header.Clone()
			c.Header.Set(fake.SignatureHeader, fake.Sign("another secret", n.Body))
			return &c
		},
		Unsigned: func(n *providers.IncomingNotification) *providers.IncomingNotification {
			c := *n
			c.Header = http.Header{}
			return &c
		},
	}, prov
}

// A mutant breaks one thing; fails lists the subtests that must catch it.
type mutant struct {
	apply func(h *conformance.Harness, p *fake.Provider)
	fails []string
}

var mutants = map[string]mutant{
	"control": {apply: func(*conformance.Harness, *fake.Provider) {}},
	"status_never_moves": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = stuckStatus{p} },
		fails: []string{"approve", "decline"},
	},
	"random_event_key": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = randomKey{p} },
		fails: []string{"approve", "decline"},
	},
	"signature_ignored": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = resign{p} },
		fails: []string{"tampered_notification", "unsigned_notification"},
	},
	"everything_sent": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = allSent{p} },
		fails: []string{"magic_garbage", "magic_slow", "unreachable"},
	},
	"secret_in_error": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = leak{p} },
		fails: []string{"no_secrets"},
	},
	"bypasses_doer": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = bypass{p} },
		fails: []string{"create_payment", "magic_slow", "unreachable"},
	},
	"no_reference_limit": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = noLimit{p} },
		fails: []string{"validate_payment"},
	},
	"panics_on_garbage": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = panicky{p} },
		fails: []string{"garbage_notification"},
	},
	"unsigned_amount_wrong": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = wrongAmount{p} },
		fails: []string{"approve", "decline"},
	},
	"not_found_as_fault": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = badNotFound{p} },
		fails: []string{"find_unknown_reference"},
	},
	"no_notifications": {
		apply: func(h *conformance.Harness, p *fake.Provider) {
			complete := h.Complete
			h.Complete = func(t *testing.T, pay *providers.Payment, ok bool) []*providers.IncomingNotification {
				complete(t, pay, ok)
				return nil
			}
		},
		fails: []string{"approve", "decline", "event_keys", "tampered_notification"},
	},
	"escaped_signature_in_event": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = eventLeak{p, false} },
		fails: []string{"approve", "decline"},
	},
	"escaped_secret_in_event": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = eventLeak{p, true} },
		fails: []string{"no_secrets"},
	},
	"event_not_an_object": {
		apply: func(h *conformance.Harness, p *fake.Provider) { h.Provider = eventArray{p} },
		fails: []string{"approve", "decline"},
	},
	"tamper_is_noop": {
		apply: func(h *conformance.Harness, p *fake.Provider) {
			h.Tamper = func(n *providers.IncomingNotification) *providers.IncomingNotification { return n }
		},
		fails: []string{"tampered_notification"},
	},
}

// TestMutant is the child-process side: it runs the suite against one
// mutant named by CONFORMANCE_MUTANT.
func TestMutant(t *testing.T) {
	name := os.Getenv("CONFORMANCE_MUTANT")
	if name == "" {
		t.Skip("run by TestSuiteCatchesDefects in a child process")
	}
	h, p := newHarness(t)
	mutants[name].apply(&h, p)
	conformance.Run(t, h)
}

func TestSuiteCatchesDefects(t *testing.T) {
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONFORMANCE_MUTANT="+name)
			out, err := cmd.CombinedOutput()
			if strings.Contains(string(out), "panic:") {
				t.Fatalf("the suite crashed instead of reporting:\n%s", out)
			}
			if len(m.fails) == 0 {
				if err != nil {
					t.Fatalf("the suite fails a conforming provider:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a provider with defect %q", name)
			}
			for _, sub := range m.fails {
				if !strings.Contains(string(out), "--- FAIL: TestMutant/"+sub+" (") {
					t.Errorf("subtest %s did not catch defect %q:\n%s", sub, name, out)
				}
			}
		})
	}
}

// The mutants. Each embeds the fake (keeping Refunder and PayoutSender)
// and breaks one method.

type stuckStatus struct{ *fake.Provider }

func (m stuckStatus) GetPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	p, err := m.Provider.GetPayment(ctx, do, ref)
	if p != nil {
		p.Status = providers.StatusRequiresAction
	}
	return p, err
}

type randomKey struct{ *fake.Provider }

var keySeq atomic.Int64

func (m randomKey) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	n, err := m.Provider.VerifyNotification(in)
	if n != nil {
		n.EventKey = fmt.Sprint("k", keySeq.Add(1))
	}
	return n, err
}

type resign struct{ *fake.Provider }

func (m resign) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	c := *in
	c.Header = in.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(fake.SignatureHeader, fake.Sign(secret, in.Body))
	return m.Provider.VerifyNotification(&c)
}

type allSent struct{ *fake.Provider }

func (m allSent) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	p, err := m.Provider.CreatePayment(ctx, do, req)
	if err != nil {
		if e := providers.AsError(err); e.Type != providers.TypeProviderDeclined {
			return nil, providers.ProviderFault("x", "y", providers.SentYes, false)
		}
	}
	return p, err
}

type leak struct{ *fake.Provider }

func (m leak) CreatePayment(ctx context.Context, do providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	p, err := m.Provider.CreatePayment(ctx, do, req)
	if err != nil {
		e := providers.AsError(err)
		e.Message += " (key " + secret + ")"
		return nil, e
	}
	return p, nil
}

type bypass struct{ *fake.Provider }

func (m bypass) CreatePayment(ctx context.Context, _ providers.Doer, req *providers.CreatePayment) (*providers.Payment, error) {
	return m.Provider.CreatePayment(ctx, &providers.HTTPDoer{Timeout: 30 * time.Second}, req)
}

type noLimit struct{ *fake.Provider }

func (noLimit) ValidatePayment(*providers.CreatePayment) error { return nil }

type panicky struct{ *fake.Provider }

func (m panicky) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	if len(in.Body) == 0 {
		var n *providers.Notification
		_ = n.EventKey // nil dereference, as a careless parser would
	}
	return m.Provider.VerifyNotification(in)
}

type wrongAmount struct{ *fake.Provider }

func (m wrongAmount) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	n, err := m.Provider.VerifyNotification(in)
	if n != nil {
		var w struct{ Amount int64 }
		_ = json.Unmarshal(in.Body, &w)
		n.Amount = w.Amount / 100 // a major-units slip
	}
	return n, err
}

type badNotFound struct{ *fake.Provider }

func (m badNotFound) FindPayment(ctx context.Context, do providers.Doer, ref string) (*providers.Payment, error) {
	p, err := m.Provider.FindPayment(ctx, do, ref)
	if err != nil {
		return nil, providers.ProviderFault("404", "not found", providers.SentYes, false)
	}
	return p, nil
}

// eventLeak copies the notification's signature header (or the account
// secret) into its ProviderEvent, every character \u-escaped, so that the
// raw bytes do not show it.
type eventLeak struct {
	*fake.Provider
	secret bool
}

func (m eventLeak) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	n, err := m.Provider.VerifyNotification(in)
	if n != nil && len(n.ProviderEvent) > 2 {
		v := in.Header.Get(fake.SignatureHeader)
		if m.secret {
			v = secret
		}
		var esc strings.Builder
		for _, c := range v {
			fmt.Fprintf(&esc, `\u%04x`, c)
		}
		ev := n.ProviderEvent[: len(n.ProviderEvent)-1 : len(n.ProviderEvent)-1]
		n.ProviderEvent = append(ev, `,"copy":"`+esc.String()+`"}`...)
	}
	return n, err
}

// eventArray hands over a ProviderEvent that is JSON but not an object.
type eventArray struct{ *fake.Provider }

func (m eventArray) VerifyNotification(in *providers.IncomingNotification) (*providers.Notification, error) {
	n, err := m.Provider.VerifyNotification(in)
	if n != nil {
		n.ProviderEvent = json.RawMessage(`[1]`)
	}
	return n, err
}
