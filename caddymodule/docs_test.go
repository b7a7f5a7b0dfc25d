package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

// The documentation is tested: README.md and every docs/**/*.md. Each
// fenced code block must carry a language this test knows, and is checked
// by it (the conventions are also in docs/README.md, "Code blocks"):
//
//	caddyfile         a whole Caddyfile (global options and/or site blocks):
//	                  adapted with this plugin's modules; an error or a
//	                  warning (also "not formatted": run caddy fmt) fails.
//	caddyfile-syntax  an option grammar (<placeholders>, [optional], ...):
//	                  not adapted; its braces must balance and the first
//	                  word of every line must be a keyword the plugin's
//	                  Caddyfile parsers know.
//	json              must parse. It is validated against docs/openapi.yaml
//	                  when the line before the block names what it is:
//	                    <!-- openapi: POST /payments request -->
//	                    <!-- openapi: GET /payments/{id} 200 -->   (a status, or default)
//	                    <!-- openapi: webhook paymentEvent -->
//	                    <!-- openapi: schema Payment -->
//	                  or, without such a line, when it is recognisably a
//	                  canonical body: "object" payment, refund, payout,
//	                  list or event, an {"error": …} body, or a forwarded
//	                  event (evt_ id, type, data). A Caddy JSON handler
//	                  ("handler": "payments") is decoded strictly into the
//	                  module, its provider accounts into theirs.
//	sh, console       every curl URL (in console blocks, on "$ " lines) must
//	                  name a route of docs/openapi.yaml with a method it
//	                  serves (under any one-segment prefix, as handle_path
//	                  mounts it), of the sandbox, of the admin endpoint
//	                  (port 2019) or of the stand-in shop (port 8081).
//	go                must parse as a file, or as statements of a function.
//	text, promql      not checked.
//
// Every relative link between the files must resolve: the file exists and,
// for a markdown file, the #anchor is one of its headings. README.md links
// every file under docs/, and .ci/run runs exactly the README's test
// command.

// docFiles returns README.md and docs/**/*.md, relative to the repository.
func docFiles(t testing.TB) []string {
	files := []string{"README.md"}
	err := filepath.WalkDir("../docs", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel("..", p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files[1:])
	return files
}

// mdBlock is one fenced code block.
type mdBlock struct {
	file string
	line int    // of the opening fence
	lang string // the info string's first word
	note string // an HTML comment on the line before the fence, without <!-- -->
	body string
}

func (b mdBlock) where() string { return fmt.Sprintf("%s:%d (```%s)", b.file, b.line, b.lang) }

// mdLink is one inline link [text](target).
type mdLink struct {
	file   string
	line   int
	target string
}

// mdDoc is a parsed markdown file.
type mdDoc struct {
	blocks  []mdBlock
	links   []mdLink
	anchors map[string]bool
}

var (
	fenceRE   = regexp.MustCompile("^(\\s*)(```+|~~~+)\\s*([^`\\s]*)")
	headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	linkRE    = regexp.MustCompile(`\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)`)
	codeRE    = regexp.MustCompile("`+[^`]*`+")
	noteRE    = regexp.MustCompile(`^\s*<!--\s*(.*?)\s*-->\s*$`)
)

// parseMarkdown splits a markdown file into its fenced blocks, the links
// outside them and the anchors its headings give.
func parseMarkdown(file, src string) (*mdDoc, error) {
	doc := &mdDoc{anchors: map[string]bool{}}
	seen := map[string]int{}
	lines := strings.Split(src, "\n")
	prev := "" // the last non-blank line outside a block
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := fenceRE.FindStringSubmatch(l); m != nil {
			indent, fence := len(m[1]), m[2]
			b := mdBlock{file: file, line: i + 1, lang: m[3]}
			if n := noteRE.FindStringSubmatch(prev); n != nil {
				b.note = n[1]
			}
			var body []string
			closed := false
			for i++; i < len(lines); i++ {
				t := strings.TrimSpace(lines[i])
				if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
					closed = true
					break
				}
				bl := lines[i]
				for k := 0; k < indent && strings.HasPrefix(bl, " "); k++ {
					bl = bl[1:]
				}
				body = append(body, bl)
			}
			if !closed {
				return nil, fmt.Errorf("%s:%d: code block never closed", file, b.line)
			}
			b.body = strings.Join(body, "\n") + "\n"
			doc.blocks = append(doc.blocks, b)
			prev = ""
			continue
		}
		if strings.TrimSpace(l) != "" {
			prev = l
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			a := slug(m[1])
			if n, ok := seen[a]; ok {
				seen[a] = n + 1
				a = fmt.Sprintf("%s-%d", a, n+1)
			} else {
				seen[a] = 0
			}
			doc.anchors[a] = true
		}
		for _, m := range linkRE.FindAllStringSubmatch(codeRE.ReplaceAllString(l, "``"), -1) {
			doc.links = append(doc.links, mdLink{file: file, line: i + 1, target: m[2]})
		}
	}
	return doc, nil
}

// slug is GitHub's anchor for a heading: the text of its links, lower
// case, without punctuation, spaces as hyphens.
func slug(h string) string {
	h = linkRE.ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// docCheck checks blocks and links; its fields are loaded once.
type docCheck struct {
	model    *v3.Document
	keywords map[string]bool // quoted words in the plugin's non-test sources
	docs     map[string]*mdDoc
	root     string // the repository
}

var docChecker struct {
	once sync.Once
	c    *docCheck
	err  error
}

func loadDocCheck() (*docCheck, error) {
	docChecker.once.Do(func() {
		c := &docCheck{docs: map[string]*mdDoc{}, root: ".."}
		spec, err := os.ReadFile(openAPIPath)
		if err != nil {
			docChecker.err = err
			return
		}
		d, err := libopenapi.NewDocument(spec)
		if err != nil {
			docChecker.err = err
			return
		}
		m, err := d.BuildV3Model()
		if err != nil {
			docChecker.err = fmt.Errorf("building the model of %s: %w", openAPIPath, err)
			return
		}
		c.model = &m.Model
		c.keywords, docChecker.err = sourceKeywords("..", "caddymodule", "providers", "sandbox", "store")
		docChecker.c = c
	})
	return docChecker.c, docChecker.err
}

// sourceKeywords returns every double-quoted lower-case word in the
// non-test Go files under dirs: the Caddyfile parsers' option names are
// among them ("case \"public_url\":").
func sourceKeywords(root string, dirs ...string) (map[string]bool, error) {
	kw := map[string]bool{}
	re := regexp.MustCompile(`"([a-z][a-z0-9_]*)"`)
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllSubmatch(src, -1) {
				kw[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return kw, nil
}

// checkBlock returns what is wrong with one block (nothing when it is fine).
func (c *docCheck) checkBlock(b mdBlock) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, b.where()+": "+fmt.Sprintf(format, args...)) }
	if strings.HasPrefix(b.note, "openapi:") && b.lang != "json" {
		bad("an openapi note belongs before a json block")
	}
	switch b.lang {
	case "":
		bad("a code block needs a language: caddyfile, caddyfile-syntax, json, sh, console, go, text or promql")
	case "caddyfile":
		out, warns, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(b.body), map[string]any{"filename": b.file})
		if err != nil {
			bad("does not adapt: %v", err)
			break
		}
		for _, w := range warns {
			bad("adapting warns: %s", w.String())
		}
		if !bytes.Contains(out, []byte(`"handler":"payments`)) {
			bad("adapts, but uses neither payments nor payments_sandbox: label a Caddyfile of something else text")
		}
	case "caddyfile-syntax":
		depth := 0
		for i, l := range strings.Split(b.body, "\n") {
			if k := strings.Index(l, "#"); k >= 0 && (k == 0 || l[k-1] == ' ' || l[k-1] == '\t') {
				l = l[:k]
			}
			depth += strings.Count(l, "{") - strings.Count(l, "}")
			if depth < 0 {
				bad("line %d closes a brace never opened", i+1)
			}
			f := strings.Fields(l)
			if len(f) == 0 || !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(f[0]) {
				continue
			}
			if !c.keywords[f[0]] {
				bad("line %d: %q is no option the plugin's Caddyfile parsers know", i+1, f[0])
			}
		}
		if depth != 0 {
			bad("braces do not balance")
		}
	case "json":
		probs = append(probs, c.checkJSON(b)...)
	case "sh", "console":
		probs = append(probs, c.checkCommands(b)...)
	case "go":
		fset := token.NewFileSet()
		if _, err := parser.ParseFile(fset, "", b.body, parser.AllErrors); err != nil {
			if _, err2 := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+b.body+"\n}\n", parser.AllErrors); err2 != nil {
				bad("is no Go file and no Go statements: %v", err2)
			}
		}
	case "text", "promql":
	default:
		bad("unknown language %q: use caddyfile, caddyfile-syntax, json, sh, console, go, text or promql", b.lang)
	}
	return probs
}

// checkJSON parses a json block and validates what it names or what it
// recognisably is.
func (c *docCheck) checkJSON(b mdBlock) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, b.where()+": "+fmt.Sprintf(format, args...)) }
	dec := json.NewDecoder(strings.NewReader(b.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		bad("is not JSON: %v", err)
		return probs
	}
	if _, err := dec.Token(); err == nil {
		bad("holds more than one JSON value")
		return probs
	}
	var schema *base.Schema
	what := ""
	if spec, ok := strings.CutPrefix(b.note, "openapi:"); ok {
		var err error
		schema, err = c.namedSchema(strings.Fields(spec))
		if err != nil {
			bad("openapi note %q: %v", b.note, err)
			return probs
		}
		what = strings.TrimSpace(spec)
	} else if obj, ok := v.(map[string]any); ok {
		if obj["handler"] == "payments" {
			return append(probs, c.checkHandlerJSON(b, obj)...)
		}
		if name := inferSchema(obj); name != "" {
			schema = c.model.Components.Schemas.GetOrZero(name).Schema()
			what = "schema " + name + " (inferred; name it with <!-- openapi: … --> if that is wrong)"
		}
	}
	if schema == nil {
		return probs
	}
	if err := validateJSON(schema, b.body); err != nil {
		bad("does not validate against %s of docs/openapi.yaml: %v", what, err)
	}
	return probs
}

// validateJSON validates a JSON text against a schema of the document.
func validateJSON(schema *base.Schema, body string) error {
	ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaString(schema, body)
	if ok {
		return nil
	}
	var msgs []string
	for _, e := range errs {
		m := e.Message
		if e.Reason != "" {
			m += ": " + e.Reason
		}
		for _, s := range e.SchemaValidationErrors {
			m += fmt.Sprintf(" [%s: %s]", s.FieldPath, s.Reason)
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// inferSchema names the schema a canonical body is, or "".
func inferSchema(obj map[string]any) string {
	if _, ok := obj["error"]; ok && len(obj) == 1 {
		return "ErrorResponse"
	}
	switch obj["object"] {
	case "payment":
		return "Payment"
	case "refund":
		return "Refund"
	case "payout":
		return "Payout"
	case "event":
		return "RedeliveryAccepted"
	case "list":
		data, _ := obj["data"].([]any)
		if len(data) == 0 {
			return ""
		}
		first, _ := data[0].(map[string]any)
		switch {
		case first["object"] == "payment":
			return "PaymentList"
		case first["type"] != nil:
			return "EventList"
		case first["name"] != nil:
			return "ProviderList"
		}
	}
	if id, _ := obj["id"].(string); strings.HasPrefix(id, "evt_") && obj["type"] != nil && obj["data"] != nil {
		return "Event"
	}
	return ""
}

// namedSchema finds the schema an openapi note names:
// "METHOD /path request", "METHOD /path <status|default>",
// "webhook <name>" or "schema <name>".
func (c *docCheck) namedSchema(f []string) (*base.Schema, error) {
	switch {
	case len(f) == 2 && f[0] == "schema":
		s := c.model.Components.Schemas.GetOrZero(f[1])
		if s == nil {
			return nil, fmt.Errorf("no schema %s in components", f[1])
		}
		return s.Schema(), nil
	case len(f) == 2 && f[0] == "webhook":
		pi := c.model.Webhooks.GetOrZero(f[1])
		if pi == nil || pi.Post == nil || pi.Post.RequestBody == nil {
			return nil, fmt.Errorf("no webhook %s", f[1])
		}
		return jsonSchema(pi.Post.RequestBody.Content)
	case len(f) == 3:
		pi := c.model.Paths.PathItems.GetOrZero(f[1])
		if pi == nil {
			return nil, fmt.Errorf("no path %s", f[1])
		}
		op := pi.GetOperations().GetOrZero(strings.ToLower(f[0]))
		if op == nil {
			return nil, fmt.Errorf("no operation %s %s", f[0], f[1])
		}
		if f[2] == "request" {
			if op.RequestBody == nil {
				return nil, fmt.Errorf("%s %s takes no request body", f[0], f[1])
			}
			return jsonSchema(op.RequestBody.Content)
		}
		var r *v3.Response
		if op.Responses != nil {
			if f[2] == "default" {
				r = op.Responses.Default
			} else if _, err := strconv.Atoi(f[2]); err == nil {
				r = op.Responses.Codes.GetOrZero(f[2])
			}
		}
		if r == nil {
			return nil, fmt.Errorf("%s %s has no response %s", f[0], f[1], f[2])
		}
		return jsonSchema(r.Content)
	}
	return nil, fmt.Errorf(`want "METHOD /path request", "METHOD /path <status>", "webhook <name>" or "schema <name>"`)
}

func jsonSchema(content interface {
	GetOrZero(string) *v3.MediaType
}) (*base.Schema, error) {
	mt := content.GetOrZero("application/json")
	if mt == nil || mt.Schema == nil {
		return nil, fmt.Errorf("no application/json body")
	}
	return mt.Schema.Schema(), nil
}

// checkHandlerJSON decodes a Caddy JSON payments handler strictly, as
// Caddy loads it, and each provider account into its module.
func (c *docCheck) checkHandlerJSON(b mdBlock, obj map[string]any) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, b.where()+": "+fmt.Sprintf(format, args...)) }
	delete(obj, "handler")
	raw, _ := json.Marshal(obj)
	var h Handler
	if err := caddy.StrictUnmarshalJSON(raw, &h); err != nil {
		bad("is no http.handlers.payments config: %v", err)
		return probs
	}
	for name, p := range h.ProvidersRaw {
		var acct map[string]any
		if err := json.Unmarshal(p, &acct); err != nil {
			bad("provider %s: %v", name, err)
			continue
		}
		typ, _ := acct["provider"].(string)
		mi, err := caddy.GetModule("http.payments.providers." + typ)
		if err != nil {
			bad("provider %s: %v", name, err)
			continue
		}
		delete(acct, "provider")
		raw, _ := json.Marshal(acct)
		if err := caddy.StrictUnmarshalJSON(raw, mi.New()); err != nil {
			bad("provider %s is no %s config: %v", name, mi.ID, err)
		}
	}
	return probs
}

// Routes outside docs/openapi.yaml a curl in the docs may call.
var (
	adminRoutes = []string{"GET /payments/gateways", "GET /payments/outbox", "GET /payments/outbox/dropped",
		"GET /payments/outbox/{id}", "POST /payments/outbox/{id}/redeliver", "POST /payments/outbox/{id}/drop",
		"GET /metrics", "GET /config/{*}", "POST /load", "POST /stop"}
	sandboxRoutes = []string{"GET /sandbox/{p}/_sandbox/payments", "POST /sandbox/{p}/_sandbox/payments/{id}/approve",
		"POST /sandbox/{p}/_sandbox/payments/{id}/decline", "POST /sandbox/paysage/_sandbox/payments/{id}/expire",
		"POST /sandbox/paysage/_sandbox/payments/{id}/notify", "GET /sandbox/paysage/_sandbox/public_key"}
	curlURLRE = regexp.MustCompile(`^(?:https?://)?(?:[A-Za-z0-9.-]+|\$[A-Za-z_]+|\[[0-9a-f:]+\])(?::[0-9]+)?/[^\s]*$`)
)

// checkCommands checks the URLs of every curl command in a sh or console
// block.
func (c *docCheck) checkCommands(b mdBlock) []string {
	var probs []string
	var cmd strings.Builder
	sc := bufio.NewScanner(strings.NewReader(b.body))
	for sc.Scan() {
		l := sc.Text()
		if b.lang == "console" {
			if s, ok := strings.CutPrefix(l, "$ "); ok {
				l = s
			} else if cmd.Len() == 0 {
				continue // output
			}
		}
		if strings.HasSuffix(l, "\\") {
			cmd.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cmd.WriteString(l)
		if strings.Count(cmd.String(), "'")%2 == 1 {
			cmd.WriteString("\n") // a quoted argument goes on
			continue
		}
		for _, p := range c.checkCurl(cmd.String()) {
			probs = append(probs, b.where()+": "+p)
		}
		cmd.Reset()
	}
	return probs
}

// checkCurl checks one shell command line.
func (c *docCheck) checkCurl(line string) []string {
	var probs []string
	for _, part := range regexp.MustCompile(`\|\||&&|[|;]|\$\(`).Split(line, -1) {
		words := shellWords(part)
		if len(words) == 0 || words[0] != "curl" {
			continue
		}
		method := ""
		data, hasData := "", false
		var urls []string
		for i := 1; i < len(words); i++ {
			w := words[i]
			switch {
			case w == "-X" || w == "--request":
				if i+1 < len(words) {
					method = words[i+1]
					i++
				}
			case w == "-d" || strings.HasPrefix(w, "--data"):
				hasData = true
				if i+1 < len(words) {
					data = words[i+1]
				}
				i++
			case w == "-H" || w == "-o" || w == "-u" || w == "--header" || w == "-w":
				i++
			case strings.HasPrefix(w, "-"):
			case curlURLRE.MatchString(w):
				urls = append(urls, w)
			}
		}
		if method == "" {
			method = "GET"
			if hasData {
				method = "POST"
			}
		}
		for _, u := range urls {
			op, err := c.checkRoute(method, u)
			if err != nil {
				probs = append(probs, fmt.Sprintf("curl %s %s: %v", method, u, err))
				continue
			}
			if op == nil || op.RequestBody == nil || !hasData {
				continue
			}
			// The body sent to a canonical route is its request.
			if strings.Contains(data, "$") {
				continue // a shell variable in the body: not checkable here
			}
			schema, err := jsonSchema(op.RequestBody.Content)
			if err == nil {
				err = validateJSON(schema, data)
			}
			if err != nil {
				probs = append(probs, fmt.Sprintf("curl %s %s: the body does not validate against docs/openapi.yaml: %v", method, u, err))
			}
		}
	}
	return probs
}

// shellWords splits a command into words, quotes removed (enough for the
// docs' curl lines; a # starts a comment).
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote, started := false, byte(0), false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				w.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, started = ch, true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if started {
				words = append(words, w.String())
				w.Reset()
				started = false
			}
		case ch == '#' && !started:
			in = true
		default:
			w.WriteByte(ch)
			started = true
		}
		if in {
			break
		}
	}
	if started {
		words = append(words, w.String())
	}
	return words
}

// checkRoute says whether method and raw URL name a documented route,
// and returns the document's operation when it is one of its routes.
func (c *docCheck) checkRoute(method, raw string) (*v3.Operation, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	p := path.Clean(u.Path)
	switch u.Port() {
	case "2019":
		if matchAny(adminRoutes, method, p) {
			return nil, nil
		}
		return nil, fmt.Errorf("no route of the admin endpoint (%s)", strings.Join(adminRoutes, ", "))
	case "8081":
		return nil, nil // the stand-in shop of Caddyfile.example answers everything
	}
	if strings.HasPrefix(p, "/sandbox/") {
		if !strings.Contains(p, "/_sandbox/") || matchAny(sandboxRoutes, method, p) {
			return nil, nil
		}
		return nil, fmt.Errorf("no sandbox-only route (%s)", strings.Join(sandboxRoutes, ", "))
	}
	seg := strings.Split(strings.Trim(p, "/"), "/")
	for _, try := range [][]string{seg, seg[min(1, len(seg)):]} { // as is, or under a prefix
		for pattern, pi := range c.model.Paths.PathItems.FromOldest() {
			if !segmentsMatch(strings.Split(strings.Trim(pattern, "/"), "/"), try) {
				continue
			}
			if op := pi.GetOperations().GetOrZero(strings.ToLower(method)); op != nil {
				return op, nil
			}
			return nil, fmt.Errorf("docs/openapi.yaml has %s, but not its method %s", pattern, method)
		}
	}
	return nil, fmt.Errorf("no route of docs/openapi.yaml, the sandbox, the admin endpoint (port 2019) or the shop (port 8081)")
}

// matchAny says whether "METHOD /pattern" in routes matches.
func matchAny(routes []string, method, p string) bool {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	for _, r := range routes {
		m, pat, _ := strings.Cut(r, " ")
		if m == method && segmentsMatch(strings.Split(strings.Trim(pat, "/"), "/"), seg) {
			return true
		}
	}
	return false
}

// segmentsMatch matches path segments against a pattern's: {x} is any
// one segment, {*} the rest; a shell variable ($PAY) or a placeholder
// (evt_41a8…) matches a parameter.
func segmentsMatch(pattern, seg []string) bool {
	for i, ps := range pattern {
		if ps == "{*}" {
			return true
		}
		if i >= len(seg) {
			return false
		}
		if strings.HasPrefix(ps, "{") {
			continue
		}
		if ps != seg[i] {
			return false
		}
	}
	return len(seg) == len(pattern)
}

// checkLinks checks the relative links of one file.
func (c *docCheck) checkLinks(file string, doc *mdDoc) []string {
	var probs []string
	for _, l := range doc.links {
		if regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(l.target) {
			continue // https:, mailto:
		}
		target, frag, _ := strings.Cut(l.target, "#")
		resolved := file
		if target != "" {
			resolved = path.Join(path.Dir(file), target)
			if _, err := os.Stat(filepath.Join(c.root, resolved)); err != nil {
				probs = append(probs, fmt.Sprintf("%s:%d: link %s: no file %s", file, l.line, l.target, resolved))
				continue
			}
		}
		if frag == "" || !strings.HasSuffix(resolved, ".md") {
			continue
		}
		td, err := c.doc(resolved)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s:%d: link %s: %v", file, l.line, l.target, err))
			continue
		}
		if !td.anchors[frag] {
			probs = append(probs, fmt.Sprintf("%s:%d: link %s: %s has no heading #%s", file, l.line, l.target, resolved, frag))
		}
	}
	return probs
}

// doc parses a markdown file of the repository, once.
func (c *docCheck) doc(file string) (*mdDoc, error) {
	if d, ok := c.docs[file]; ok {
		return d, nil
	}
	src, err := os.ReadFile(filepath.Join(c.root, file))
	if err != nil {
		return nil, err
	}
	d, err := parseMarkdown(file, string(src))
	if err != nil {
		return nil, err
	}
	c.docs[file] = d
	return d, nil
}

// Every code block of the README and docs/ carries a known language and
// passes its language's check; every relative link resolves.
func TestDocsCodeBlocksAndLinks(t *testing.T) {
	c, err := loadDocCheck()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, f := range docFiles(t) {
		d, err := c.doc(f)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, b := range d.blocks {
			for _, p := range c.checkBlock(b) {
				t.Error(p)
			}
			key := b.lang
			if b.note != "" || b.lang == "json" && strings.Contains(b.body, `"object"`) {
				key += " (validated)"
			}
			counts[key]++
		}
		for _, p := range c.checkLinks(f, d) {
			t.Error(p)
		}
	}
	t.Logf("code blocks checked, by language: %v", counts)
	if counts["caddyfile"] == 0 || counts["json"]+counts["json (validated)"] == 0 {
		t.Errorf("no caddyfile or json blocks found: the walk is broken (%v)", counts)
	}
}

// The README's "where to read next" links every file under docs/.
func TestDocsReadmeLinksEveryDocsFile(t *testing.T) {
	c, err := loadDocCheck()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.doc("README.md")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, l := range d.links {
		target, _, _ := strings.Cut(l.target, "#")
		linked[path.Clean(target)] = true
	}
	err = filepath.WalkDir("../docs", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("..", p)
		if !linked[filepath.ToSlash(rel)] {
			t.Errorf("README.md does not link %s: add it to \"Where to read next\"", filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// .ci/run runs exactly the test command the README gives first.
func TestDocsCIRunsTheReadmeTestCommand(t *testing.T) {
	c, err := loadDocCheck()
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.doc("README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmd := ""
	for _, b := range d.blocks {
		for _, l := range strings.Split(b.body, "\n") {
			if b.lang == "sh" && strings.HasPrefix(l, "go test ") && cmd == "" {
				cmd = strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
			}
		}
	}
	if cmd == "" {
		t.Fatal("README.md gives no `go test` command in a sh block")
	}
	ci, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(ci), "\n") {
		if strings.TrimSpace(l) == cmd {
			return
		}
	}
	t.Errorf(".ci/run does not run the README's test command %q", cmd)
}

// The checks are not vacuous: each kind of broken block or link is
// reported, and the same block fixed is not.
func TestDocsCheckCatchesBrokenBlocks(t *testing.T) {
	c, err := loadDocCheck()
	if err != nil {
		t.Fatal(err)
	}
	site := "localhost:8080 {\n\tpayments {\n\t\tprovider payabl {\n\t\t\tmerchant_id m\n\t\t\tsecret {env.S}\n\t\t\tendpoint https://sandbox.payabl.com/pay/backoffice\n\t\t}\n\t\tapi_token {env.T}\n\t\tforward_secret {env.F}\n\t\tpublic_url https://shop.example\n\t}\n}\n"
	payment := `{"id":"pay_x","object":"payment","provider":"payabl","provider_reference":"1","amount":1999,"currency":"EUR","status":"processing","amount_refunded":0,"test":true,"created_at":"2026-12-03T10:00:00Z"}`
	create := `{"provider":"payabl","reference":"ORD-1","amount":1999,"currency":"EUR","return_url":"https://shop.example/r"}`
	handler := `{"handler":"payments","providers":{"payabl":{"provider":"payabl","merchant_id":"m","secret":"s","endpoint":"https://x"}},"public_url":"https://shop.example"}`
	for _, tc := range []struct {
		name, lang, note, body string
		ok                     bool
	}{
		{"caddyfile", "caddyfile", "", site, true},
		{"caddyfile, unknown option", "caddyfile", "", strings.Replace(site, "public_url", "public_uri", 1), false},
		{"caddyfile, unknown provider option", "caddyfile", "", strings.Replace(site, "merchant_id", "merchant", 1), false},
		{"caddyfile, not formatted", "caddyfile", "", strings.ReplaceAll(site, "\t", "  "), false},
		{"caddyfile, no plugin", "caddyfile", "", "localhost {\n\trespond ok\n}\n", false},
		{"syntax", "caddyfile-syntax", "", "payments {\n\tpublic_url <URL>   # base\n\tstorage redis <addr> {\n\t\tkey_prefix <p>\n\t}\n}\n", true},
		{"syntax, unknown option", "caddyfile-syntax", "", "payments {\n\tpublic_uri <URL>\n}\n", false},
		{"syntax, braces", "caddyfile-syntax", "", "payments {\n\tpublic_url <URL>\n", false},
		{"json", "json", "", `{"a": [1, 2]}`, true},
		{"json, broken", "json", "", `{"a": [1, 2}`, false},
		{"json, two values", "json", "", `{} {}`, false},
		{"payment", "json", "", payment, true},
		{"payment, float amount", "json", "", strings.Replace(payment, "1999", "19.99", 1), false},
		{"payment, unknown field", "json", "", strings.Replace(payment, `"test":true`, `"test":true,"x":1`, 1), false},
		{"error body", "json", "", `{"error":{"type":"nope","code":"x","message":"m","provider_code":null,"provider_message":null,"request_sent":"no","retryable":false}}`, false},
		{"create request", "json", "openapi: POST /payments request", create, true},
		{"create request, string amount", "json", "openapi: POST /payments request", strings.Replace(create, "1999", `"1999"`, 1), false},
		{"response by status", "json", "openapi: GET /payments/{id} 200", payment, true},
		{"response, wrong status", "json", "openapi: GET /payments/{id} 299", payment, false},
		{"no such operation", "json", "openapi: DELETE /payments request", create, false},
		{"webhook", "json", "openapi: webhook paymentEvent", `{"id":"evt_1","type":"payment.succeeded","created_at":"2026-12-03T10:00:00Z","provider":"payabl","data":` + payment + `}`, true},
		{"webhook, bad type", "json", "openapi: webhook paymentEvent", `{"id":"evt_1","type":"payment.done","created_at":"2026-12-03T10:00:00Z","provider":"payabl","data":` + payment + `}`, false},
		{"handler", "json", "", handler, true},
		{"handler, unknown option", "json", "", strings.Replace(handler, "public_url", "public_uri", 1), false},
		{"handler, unknown provider option", "json", "", strings.Replace(handler, "merchant_id", "merchant", 1), false},
		{"curl", "sh", "", "curl -s http://localhost:8080/payments/$PAY/refunds -d '{\"amount\":1}'\ncurl -s -X POST http://localhost:8080/sandbox/payabl/_sandbox/payments/$TX/approve\n", true},
		{"curl under a prefix", "sh", "", "curl -s -H 'Authorization: Bearer x' \\\n  'https://shop.example/pay/events?limit=2'\n", true},
		{"curl, body", "sh", "", "curl -s http://localhost:8080/payouts -H \"Authorization: Bearer $TOKEN\" \\\n  -d '{\"provider\":\"payabl\",\"reference\":\"PO-1\",\"amount\":999,\n       \"currency\":\"EUR\"}'\n", true},
		{"curl, body with a float amount", "sh", "", "curl -s http://localhost:8080/payouts -H \"Authorization: Bearer $TOKEN\" \\\n  -d '{\"provider\":\"payabl\",\"reference\":\"PO-1\",\"amount\":9.99,\n       \"currency\":\"EUR\"}'\n", false},
		{"curl, body with an unknown field", "sh", "", "curl -s http://localhost:8080/payments/$PAY/refunds -d '{\"amount\":500,\"note\":\"x\"}'\n", false},
		{"curl, unknown route", "sh", "", "curl -s http://localhost:8080/paymnts\n", false},
		{"curl, wrong method", "sh", "", "curl -s -X DELETE http://localhost:8080/payments/$PAY\n", false},
		{"curl, unknown sandbox route", "sh", "", "curl -s -X POST http://localhost:8080/sandbox/payabl/_sandbox/payments/1/aprove\n", false},
		{"console admin", "console", "", "$ curl -s -X POST localhost:2019/payments/outbox/evt_1/redeliver\n{\"ok\":1}\n", true},
		{"console admin, unknown route", "console", "", "$ curl -s localhost:2019/payments/outbx\n", false},
		{"go", "go", "", "if err := f(); err != nil {\n\treturn\n}\n", true},
		{"go, broken", "go", "", "if err := f(); err != nil {\n", false},
		{"text", "text", "", "anything {", true},
		{"unlabelled", "", "", "go test ./...\n", false},
		{"unknown language", "bash", "", "go test ./...\n", false},
	} {
		probs := c.checkBlock(mdBlock{file: "test.md", line: 1, lang: tc.lang, note: tc.note, body: tc.body})
		if (len(probs) == 0) != tc.ok {
			t.Errorf("%s: problems %q, want ok = %v", tc.name, probs, tc.ok)
		}
	}

	// Links and anchors, in a throw-away tree.
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/api.md", "# Canonical API\n\n## Idempotency\n\n```sh\n# Not a heading\n```\n\n## What is trusted: payabl.\n")
	write("README.md", "see [x](docs/api.md#idempotency), [y](docs/api.md#what-is-trusted-payabl), [z](#top), [w](https://example.com/#nothing)\n\n"+
		"[a](docs/api.md#not-a-heading) [b](docs/nope.md) [c](docs/api.md#missing) [d](#nowhere) `[e](docs/ignored.md)`\n\n# Top\n")
	lc := &docCheck{docs: map[string]*mdDoc{}, root: dir}
	d, err := lc.doc("README.md")
	if err != nil {
		t.Fatal(err)
	}
	probs := lc.checkLinks("README.md", d)
	var got []string
	for _, p := range probs {
		got = append(got, strings.SplitN(strings.SplitN(p, "link ", 2)[1], ":", 2)[0])
	}
	if want := "docs/api.md#not-a-heading docs/nope.md docs/api.md#missing #nowhere"; strings.Join(got, " ") != want {
		t.Errorf("broken links reported: %q, want %s", probs, want)
	}
	if _, err := parseMarkdown("x.md", "```sh\nnever closed\n"); err == nil {
		t.Error("an unclosed code block was accepted")
	}
}
