package replyjson

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzParse holds Parse to encoding/json: a body is JSON to Parse exactly
// when json.Valid accepts it (gjson.ValidBytes alone would accept bodies
// nested deeper than encoding/json's limit); and every string literal
// unquotes as encoding/json unquotes it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`, ` [1, 2.5, -0, 1e3, "a", true, false, null] `, `{"a":{"b":[]}}`, `01`, `-`, `1.`, `.5`, `1e`, `[1,]`, `{"a":1,}`,
		`"\u00e9\ud83d\ude00\ud800x\'"`, `"\/\b\f\n\r\t\\\""`, "\"\xff\"", "\"\x01\"", `"\x"`, `nul`, `truex`, "\ufeff{}",
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`["[[[[",{"\"{":"]"}]`, "", " ", `{"a" 1}`, `{1:2}`, `[1 2]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		root, ok := Parse(body)
		if want := json.Valid(body); ok != want {
			t.Fatalf("Parse %v, json.Valid %v, for %q", ok, want, body)
		}
		if !ok {
			return
		}
		var walk func(v gjson.Result, depth int)
		walk = func(v gjson.Result, depth int) {
			if depth > 64 {
				return // the test's own recursion stays shallow
			}
			if v.Type == gjson.String {
				got, ok := Text(v)
				var want string
				if err := json.Unmarshal([]byte(v.Raw), &want); err != nil || !ok || got != want {
					t.Fatalf("string %s: got %q %v, encoding/json %q %v", v.Raw, got, ok, want, err)
				}
			}
			v.ForEach(func(k, e gjson.Result) bool {
				if k.Type == gjson.String {
					walk(k, depth+1)
				}
				if e.IsObject() || e.IsArray() || e.Type == gjson.String {
					walk(e, depth+1)
				}
				return true
			})
		}
		walk(root, 0)
	})
}

// TestInt64Strict: a number where an integer is due is taken only as a
// plain integer literal that fits int64, and nothing else changes the
// field.
func TestInt64Strict(t *testing.T) {
	for raw, want := range map[string]any{
		`0`: int64(0), `-0`: int64(0), `1999`: int64(1999), `-5`: int64(-5), `null`: int64(42),
		`9223372036854775807`: int64(9223372036854775807), `-9223372036854775808`: int64(-9223372036854775808),
		`19.99`: false, `1e3`: false, `1E3`: false, `100.0`: false, `"100"`: false, `true`: false, `[1]`: false, `{}`: false,
		`9223372036854775808`: false, `-9223372036854775809`: false, `1e400`: false,
	} {
		n := int64(42)
		ok := Int64(&n, gjson.Parse(raw))
		var ref int64 = 42
		refOK := json.Unmarshal([]byte(raw), &ref) == nil
		switch w := want.(type) {
		case bool:
			if ok || refOK || n != 42 {
				t.Errorf("%s: accepted (%d), encoding/json %v", raw, n, refOK)
			}
		case int64:
			if !ok || !refOK || n != w || ref != w {
				t.Errorf("%s: got %d %v, want %d (encoding/json %d %v)", raw, n, ok, w, ref, refOK)
			}
		}
	}
}
