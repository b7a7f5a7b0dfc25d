//go:build unix

package faulttest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// reorderTap sits in front of the load balancer, where payabl's
// notifications come in, and makes them arrive out of order for the
// payments it is told to: the first notification (payment_state
// not_credited_yet, "processing") is refused with 503 as if the network
// lost it, and once the second (credited, "succeeded") went through, the
// held one is sent again, late — as a provider's retry would arrive. The
// gateway must acknowledge it (payabl wants 200 "OK") and must not forward
// a payment.processing after payment.succeeded: that would move the
// payment backwards.
type reorderTap struct {
	next  http.Handler
	lbURL string

	mu   sync.Mutex
	refs map[string]bool         // orderids to reorder
	held map[string]*heldNotice  // orderid → its held first notification
	late map[string]lateDelivery // orderid → how the late one was answered
	wg   sync.WaitGroup
}

// heldNotice is a notification body the tap refused, to send later.
type heldNotice struct {
	path     string
	header   http.Header
	body     []byte
	released bool
}

// lateDelivery is the gateway's answer to a late notification.
type lateDelivery struct {
	status int
	body   string
	err    string
}

func newReorderTap(next http.Handler, lbURL string) *reorderTap {
	return &reorderTap{next: next, lbURL: lbURL, refs: map[string]bool{},
		held: map[string]*heldNotice{}, late: map[string]lateDelivery{}}
}

// reorder marks a payment (by orderid) for reordering.
func (t *reorderTap) reorder(ref string) {
	t.mu.Lock()
	t.refs[ref] = true
	t.mu.Unlock()
}

func (t *reorderTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/notifications/payabl") {
		t.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	ref, state := form.Get("orderid"), form.Get("payment_state")

	t.mu.Lock()
	h := t.held[ref]
	switch {
	case t.refs[ref] && state == "not_credited_yet" && h == nil:
		t.held[ref] = &heldNotice{path: r.URL.RequestURI(), header: r.Header.Clone(), body: body}
		t.mu.Unlock()
		http.Error(w, "held back by the fault test (delivered later, out of order)", http.StatusServiceUnavailable)
		return
	case h != nil && state == "credited" && !h.released:
		t.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		t.next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK {
			t.release(ref, h)
		}
		return
	}
	t.mu.Unlock()
	t.next.ServeHTTP(w, r)
}

// release sends the held notification through the balancer, a moment after
// the later one was acknowledged.
func (t *reorderTap) release(ref string, h *heldNotice) {
	t.mu.Lock()
	if h.released {
		t.mu.Unlock()
		return
	}
	h.released = true
	t.mu.Unlock()
	t.wg.Go(func() {
		time.Sleep(200 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodPost, t.lbURL+h.path, bytes.NewReader(h.body))
		req.Header = h.header.Clone()
		var d lateDelivery
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			d.err = err.Error()
		} else {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			d.status, d.body = resp.StatusCode, strings.TrimSpace(string(raw))
		}
		t.mu.Lock()
		t.late[ref] = d
		t.mu.Unlock()
	})
}

// results waits for the late deliveries and sums them up: how many
// payments were reordered, how many late notifications the gateway
// acknowledged with 200 "OK", and the problems (a held notification never
// sent, a late one not acknowledged).
func (t *reorderTap) results() (reordered, acked int, problems []string) {
	t.wg.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	for ref := range t.refs {
		h := t.held[ref]
		if h == nil {
			continue // declined or never approved: no first notification
		}
		reordered++
		d, ok := t.late[ref]
		switch {
		case !ok:
			problems = append(problems, ref+": the held not_credited_yet notification was never sent late (its credited one was not acknowledged)")
		case d.status == http.StatusOK && d.body == "OK":
			acked++
		default:
			problems = append(problems, ref+": the late not_credited_yet notification was answered "+
				http.StatusText(d.status)+" "+d.body+d.err+", want 200 OK")
		}
	}
	return reordered, acked, problems
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
