package caddymodule

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/tidwall/gjson"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "payments",
		Usage: "<gateways|outbox|redeliver|drop|dropped|verify-event> [flags]",
		Short: "Operator and shop-developer tools of the payments gateway",
		Long: `
Operator tools talk to the payments routes of Caddy's admin API (module
admin.api.payments), at the address Caddy's own commands use (--address,
or the admin address of --config, or localhost:2019):

  caddy payments gateways                       running gateways
  caddy payments outbox [--gateway URL]         outbox summary and queued events
  caddy payments redeliver <event id>           make a queued event due now
  caddy payments drop <event id> --reason "…"   remove it (recorded, logged)
  caddy payments dropped                        dropped-event records

--gateway is the gateway's public_url; it may be left out when one runs.

For shop developers:

  caddy payments verify-event --secret-env NAME < captured-request

checks a captured forwarded event (raw HTTP/1.1 request: request line,
headers, blank line, body) the way a shop must verify it (Standard
Webhooks). The secret comes from an environment variable or a file,
never from the command line, where ps and shell history would show it.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(
				adminCommand("gateways", "", "List the running payments gateways", 0, cliGateways),
				adminCommand("outbox", "", "Show the outbox: depth, oldest entry and queued events with their last error", 0, cliOutbox),
				adminCommand("redeliver", "<event id>", "Make a queued event due now (the outbox worker sends it within a second)", 1, cliRedeliver),
				adminCommand("drop", "<event id> --reason \"…\"", "Remove a queued event for good; the drop is recorded and logged", 1, cliDrop),
				adminCommand("dropped", "", "List the dropped-event records", 0, cliDropped),
				verifyEventCommand(),
			)
		},
	})
}

// adminOpts are the flags of the operator subcommands.
type adminOpts struct {
	addr    string // the admin API address
	gateway string
	limit   int
	cursor  string
	reason  string
	by      string
}

// adminCommand builds one operator subcommand; run gets the resolved
// options and the positional arguments (nargs of them).
func adminCommand(name, args, short string, nargs int, run func(o adminOpts, args []string, out io.Writer) error) *cobra.Command {
	c := &cobra.Command{
		Use:   strings.TrimSpace(name + " " + args),
		Short: short,
		Args:  cobra.ExactArgs(nargs),
	}
	f := c.Flags()
	f.String("address", "", "The address of Caddy's admin API, if not the default")
	f.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
	f.StringP("adapter", "a", "", "Name of config adapter to apply (when --config is used)")
	if name != "gateways" {
		f.String("gateway", "", "The gateway's public_url (optional when one gateway runs)")
	}
	if name == "outbox" || name == "dropped" {
		f.Int("limit", 20, "How many events to show (1-100)")
		f.String("cursor", "", "Show the page after this cursor (from a previous listing)")
	}
	if name == "drop" {
		f.String("reason", "", "Why the event is dropped (required; kept in the dropped-event record)")
		f.String("by", "", "Who drops it (default: the current user's name)")
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		fl := caddycmd.Flags{FlagSet: cmd.Flags()}
		addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
		if err != nil {
			return fmt.Errorf("determining the admin API address: %w", err)
		}
		o := adminOpts{addr: addr}
		if cmd.Flags().Lookup("gateway") != nil {
			o.gateway = fl.String("gateway")
		}
		if cmd.Flags().Lookup("limit") != nil {
			o.limit, o.cursor = fl.Int("limit"), fl.String("cursor")
		}
		if cmd.Flags().Lookup("reason") != nil {
			o.reason, o.by = fl.String("reason"), fl.String("by")
			if o.by == "" {
				if u, err := user.Current(); err == nil {
					o.by = u.Username
				}
			}
		}
		cmd.SilenceUsage = true
		return run(o, args, cmd.OutOrStdout())
	}
	return c
}

// adminErrorBody finds the canonical error body in the error text of
// caddycmd.AdminAPIRequest ("… HTTP 404: {…}").
var adminErrorBody = regexp.MustCompile(`HTTP (\d+): (\{.*)`)

// adminCall makes one admin API request and decodes its JSON answer into
// out. An error answer becomes an error with its canonical message.
func adminCall(o adminOpts, method, path string, query url.Values, body any, out any) error {
	if o.gateway != "" {
		if query == nil {
			query = url.Values{}
		}
		query.Set("gateway", o.gateway)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	resp, err := caddycmd.AdminAPIRequest(o.addr, method, uri, nil, rd)
	if err != nil {
		if m := adminErrorBody.FindStringSubmatch(err.Error()); m != nil {
			if msg := gjson.Get(m[2], "error.message"); msg.Exists() {
				return fmt.Errorf("%s %s: HTTP %s: %s", method, path, m[1], msg.String())
			}
			if msg := gjson.Get(m[2], "error"); msg.Type == gjson.String { // Caddy's own admin errors
				return fmt.Errorf("%s %s: HTTP %s: %s", method, path, m[1], msg.String())
			}
		}
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("reading the admin API's answer: %w", err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the admin API's answer (is the payments plugin in this Caddy?): %w", err)
	}
	return nil
}

func pageQuery(o adminOpts) url.Values {
	q := url.Values{}
	if o.limit > 0 {
		q.Set("limit", strconv.Itoa(o.limit))
	}
	if o.cursor != "" {
		q.Set("cursor", o.cursor)
	}
	return q
}

// ago formats how long before now t was, or in how long it comes.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

func cliGateways(o adminOpts, _ []string, out io.Writer) error {
	var res struct {
		Data []adminGateway `json:"data"`
	}
	if err := adminCall(o, http.MethodGet, "/payments/gateways", nil, nil, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PUBLIC URL\tPROVIDERS\tOUTBOX\tSTORAGE")
	for _, g := range res.Data {
		depth := strconv.Itoa(g.OutboxDepth)
		if !g.Outbox {
			depth = "off"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.PublicURL, strings.Join(g.Providers, ","), depth, g.Storage)
	}
	return tw.Flush()
}

func cliOutbox(o adminOpts, _ []string, out io.Writer) error {
	var res struct {
		Gateway    string       `json:"gateway"`
		Depth      int          `json:"depth"`
		Oldest     *time.Time   `json:"oldest_created_at"`
		Data       []adminEntry `json:"data"`
		HasMore    bool         `json:"has_more"`
		NextCursor string       `json:"next_cursor"`
	}
	if err := adminCall(o, http.MethodGet, "/payments/outbox", pageQuery(o), nil, &res); err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(out, "gateway %s: %d queued", res.Gateway, res.Depth)
	if res.Oldest != nil {
		fmt.Fprintf(out, ", oldest created %s", ago(*res.Oldest, now))
	}
	fmt.Fprintln(out)
	if len(res.Data) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tTYPE\tPROVIDER\tATTEMPTS\tNEXT ATTEMPT\tCREATED\tLAST ERROR")
	for _, e := range res.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.EventID, e.EventType, e.Provider, e.Attempts,
			ago(e.NextAttempt, now), ago(e.Created, now), oneLine(e.LastError))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.HasMore {
		fmt.Fprintf(out, "more: --cursor %s\n", res.NextCursor)
	}
	return nil
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), " ")
}

func cliRedeliver(o adminOpts, args []string, out io.Writer) error {
	var e adminEntry
	if err := adminCall(o, http.MethodPost, "/payments/outbox/"+url.PathEscape(args[0])+"/redeliver", nil, nil, &e); err != nil {
		return err
	}
	fmt.Fprintf(out, "event %s (%s, %d attempts so far) is due now: the outbox worker delivers it within a second\n", e.EventID, e.EventType, e.Attempts)
	return nil
}

func cliDrop(o adminOpts, args []string, out io.Writer) error {
	if strings.TrimSpace(o.reason) == "" {
		return errors.New(`drop needs --reason "…": it is kept in the dropped-event record`)
	}
	var rec struct {
		EventID   string `json:"event_id"`
		EventType string `json:"event_type"`
		Attempts  int    `json:"attempts"`
	}
	body := map[string]string{"reason": o.reason, "by": o.by}
	if err := adminCall(o, http.MethodPost, "/payments/outbox/"+url.PathEscape(args[0])+"/drop", nil, body, &rec); err != nil {
		return err
	}
	fmt.Fprintf(out, "event %s (%s, %d attempts) dropped: it will not be delivered; see `caddy payments dropped`\n", rec.EventID, rec.EventType, rec.Attempts)
	return nil
}

func cliDropped(o adminOpts, _ []string, out io.Writer) error {
	var res struct {
		Gateway string `json:"gateway"`
		Data    []struct {
			EventID   string    `json:"event_id"`
			EventType string    `json:"event_type"`
			Provider  string    `json:"provider"`
			Attempts  int       `json:"attempts"`
			DroppedAt time.Time `json:"dropped_at"`
			Reason    string    `json:"reason"`
			By        string    `json:"by"`
		} `json:"data"`
		HasMore    bool   `json:"has_more"`
		NextCursor string `json:"next_cursor"`
	}
	if err := adminCall(o, http.MethodGet, "/payments/outbox/dropped", pageQuery(o), nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(out, "gateway %s: %d dropped events shown\n", res.Gateway, len(res.Data))
	if len(res.Data) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT ID\tTYPE\tPROVIDER\tATTEMPTS\tDROPPED AT\tBY\tREASON")
	for _, d := range res.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.EventID, d.EventType, d.Provider, d.Attempts,
			d.DroppedAt.UTC().Format(time.RFC3339), oneLine(d.By), oneLine(d.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.HasMore {
		fmt.Fprintf(out, "more: --cursor %s\n", res.NextCursor)
	}
	return nil
}

// webhookTolerance is how far a webhook-timestamp may be from now, as
// Standard Webhooks' reference libraries check it.
const webhookTolerance = 5 * time.Minute

// verifyEventCommand is `caddy payments verify-event`. It has no flag
// that takes a secret's value.
func verifyEventCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "verify-event (--secret-env NAME | --secret-file PATH) [--ignore-timestamp] < captured-request",
		Short: "Check a captured forwarded event's Standard Webhooks signature",
		Long: `Reads a captured HTTP request (request line, headers, blank line,
body; as nc -l or a request bin shows it) on standard input and checks it
as a shop must: webhook-id, webhook-timestamp (within 5 minutes of now,
unless --ignore-timestamp) and webhook-signature (an HMAC-SHA256 over
"{id}.{timestamp}.{body}" per whsec_ secret, several "v1,…" entries when
secrets rotate). The secret is read from an environment variable or a
file (several secrets: separated by white space), never from the command
line. It prints OK, or exactly what is wrong; never the secret.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.String("secret-env", "", "Name of the environment variable that holds the forward secret(s)")
	f.String("secret-file", "", "Path of a file that holds the forward secret(s)")
	f.Bool("ignore-timestamp", false, "Do not check the timestamp's age (for old captures)")
	c.RunE = func(cmd *cobra.Command, _ []string) error {
		fl := caddycmd.Flags{FlagSet: cmd.Flags()}
		secrets, err := readSecrets(fl.String("secret-env"), fl.String("secret-file"))
		if err != nil {
			return err
		}
		cmd.SilenceUsage = true
		report, ok := verifyCaptured(cmd.InOrStdin(), secrets, time.Now(), !fl.Bool("ignore-timestamp"))
		fmt.Fprint(cmd.OutOrStdout(), report)
		if !ok {
			cmd.SilenceErrors = true
			return &verifyFailed{}
		}
		return nil
	}
	return c
}

// verifyFailed is the error of a capture that does not verify (the
// report says why).
type verifyFailed struct{}

func (*verifyFailed) Error() string { return "the event does not verify" }

// readSecrets takes the secrets from exactly one of an environment
// variable and a file. Errors name the source, never the value.
func readSecrets(env, file string) ([]string, error) {
	var raw, from string
	switch {
	case env != "" && file != "":
		return nil, errors.New("give --secret-env or --secret-file, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", env)
		}
		raw, from = v, "environment variable "+env
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the secret file: %w", err)
		}
		raw, from = string(b), "file "+file
	default:
		return nil, errors.New("give the forward secret with --secret-env NAME or --secret-file PATH (never on the command line, where ps and shell history show it)")
	}
	secrets := strings.Fields(raw)
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%s holds no secret", from)
	}
	return secrets, nil
}

// verifyCaptured checks a captured forwarded event as a shop's Standard
// Webhooks verification must, with the secrets given (whsec_…), at now;
// checkTime false skips the timestamp tolerance. The report is one line
// per finding, "OK: …" or "FAIL: …" first; it never holds a secret.
func verifyCaptured(in io.Reader, secrets []string, now time.Time, checkTime bool) (report string, ok bool) {
	var out strings.Builder
	fail := func(format string, args ...any) (string, bool) {
		out.WriteString("FAIL: " + fmt.Sprintf(format, args...) + "\n")
		return out.String(), false
	}
	note := func(format string, args ...any) { out.WriteString("note: " + fmt.Sprintf(format, args...) + "\n") }

	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		k, err := decodeWhsec(s)
		if err != nil {
			return fail("secret %d of %d is not a forward secret: %v", i+1, len(secrets), err)
		}
		keys = append(keys, k)
	}

	br := bufio.NewReader(in)
	req, err := http.ReadRequest(br)
	if err != nil {
		return fail("the input is not a captured HTTP/1.1 request (request line, headers, blank line, body): %v", err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return fail("reading the request body: %v (does Content-Length match the captured body?)", err)
	}
	rest, _ := io.ReadAll(br)
	if req.Header.Get("Content-Length") == "" && len(req.TransferEncoding) == 0 {
		body = rest // no length: the body is the rest of the capture
	} else if len(bytes.TrimSpace(rest)) > 0 {
		note("%d bytes after the %d the request's length announced were ignored", len(rest), len(body))
	}
	if req.Method != http.MethodPost {
		note("the request is a %s; the gateway forwards events as POST", req.Method)
	}

	id := req.Header.Get("webhook-id")
	tsText := req.Header.Get("webhook-timestamp")
	sigText := req.Header.Get("webhook-signature")
	for _, h := range []struct{ name, v string }{{"webhook-id", id}, {"webhook-timestamp", tsText}, {"webhook-signature", sigText}} {
		if h.v == "" {
			return fail("header %s is missing: was this request forwarded by the gateway, and did the capture keep its headers?", h.name)
		}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fail("webhook-timestamp %q is not a Unix time in seconds", truncate(tsText, 40))
	}
	if bid := gjson.GetBytes(body, "id"); bid.Exists() && bid.String() != id {
		note("webhook-id %s differs from the event's id %s in the body (the gateway sends the same)", truncate(id, 80), truncate(bid.String(), 80))
	}

	var sigs [][]byte
	for _, entry := range strings.Fields(sigText) {
		ver, b64, found := strings.Cut(entry, ",")
		if !found || ver != "v1" {
			note("signature entry %q is not a v1 entry and is ignored", truncate(ver, 20))
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			note("a v1 signature entry is not base64 and is ignored")
			continue
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) == 0 {
		return fail("webhook-signature has no v1 entry (want space-separated \"v1,<base64>\" entries)")
	}

	matches := func(b []byte) int {
		for i, k := range keys {
			want := signStandardWebhooks([][]byte{k}, id, ts, b)
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(want, "v1,"))
			for _, s := range sigs {
				if hmac.Equal(raw, s) {
					return i
				}
			}
		}
		return -1
	}
	which := matches(body)
	if which < 0 {
		// Name the usual accidents of capturing, when one explains it.
		for _, alt := range []struct {
			what string
			b    []byte
		}{
			{"the body without its trailing newline (your capture or editor added it)", bytes.TrimRight(body, "\r\n")},
			{"the body with CRLF line endings turned into LF (your capture changed them)", bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))},
		} {
			if !bytes.Equal(alt.b, body) && matches(alt.b) >= 0 {
				return fail("the signature does not match the captured body, but matches %s: verify over the exact bytes received", alt.what)
			}
		}
		return fail("no v1 signature (%d given) matches any of the %d secret(s) over webhook-id %s, webhook-timestamp %d and the %d-byte body: the body, id or timestamp was changed after signing, or the secret is not a forward_secret of the gateway",
			len(sigs), len(keys), truncate(id, 80), ts, len(body))
	}
	age := now.Sub(time.Unix(ts, 0))
	if checkTime {
		if age > webhookTolerance {
			return fail("the signature matches (secret %d), but webhook-timestamp %d is %s old, beyond the %s tolerance: a shop must refuse it as a possible replay (for an old capture, use --ignore-timestamp)",
				which+1, ts, age.Round(time.Second), webhookTolerance)
		}
		if -age > webhookTolerance {
			return fail("the signature matches (secret %d), but webhook-timestamp %d is %s in the future, beyond the %s tolerance: check the clocks",
				which+1, ts, (-age).Round(time.Second), webhookTolerance)
		}
	}
	out2 := fmt.Sprintf("OK: event %s verifies with secret %d of %d", truncate(id, 80), which+1, len(keys))
	if checkTime {
		out2 += fmt.Sprintf(", timestamp %s old (within %s)", age.Round(time.Second), webhookTolerance)
	} else {
		out2 += " (timestamp not checked)"
	}
	return out2 + "\n" + out.String(), true
}
