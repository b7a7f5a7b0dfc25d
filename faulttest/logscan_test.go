//go:build unix

package faulttest

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
)

// logEntry is the part of a Caddy JSON log line the scan reads.
type logEntry struct {
	Msg     string `json:"msg"`
	EventID string `json:"event_id"`
}

// scanLog calls fn for every JSON line of c's log with the number of the
// process life it belongs to (1 before the first restart, 2 after).
func scanLog(c *caddy, fn func(life int, e logEntry)) {
	f, err := os.Open(c.log)
	if err != nil {
		return
	}
	defer f.Close()
	life := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---- start") {
			life++
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.EventID != "" {
			fn(life, e)
		}
	}
}

// outboxAtKill reads from the gateways' logs how many events A had queued
// for redelivery and not yet delivered when it was killed, and how many of
// those a log shows delivered afterwards (by B, or by A restarted). It
// depends on the gateway's log wording, so it only informs the report; a
// lost event is caught by the shop's own count.
func outboxAtKill(a, b *caddy) (pending, delivered int) {
	delivery := func(msg string) bool { return msg == "event forwarded" || msg == "event redelivered" }
	waiting := map[string]bool{}
	scanLog(a, func(life int, e logEntry) {
		switch {
		case life != 1:
		case e.Msg == "event queued for redelivery; provider acknowledged":
			waiting[e.EventID] = true
		case delivery(e.Msg):
			delete(waiting, e.EventID)
		}
	})
	later := map[string]bool{}
	scanLog(a, func(life int, e logEntry) {
		if life > 1 && delivery(e.Msg) && waiting[e.EventID] {
			later[e.EventID] = true
		}
	})
	scanLog(b, func(_ int, e logEntry) {
		if delivery(e.Msg) && waiting[e.EventID] {
			later[e.EventID] = true
		}
	})
	return len(waiting), len(later)
}
