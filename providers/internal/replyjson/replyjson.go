// Package replyjson reads provider JSON replies with
// github.com/tidwall/gjson, without reflection, and with exactly the
// acceptance and the results that encoding/json's Unmarshal gives into the
// structs the providers declare (their json tags stay the reference, and
// the providers' differential fuzz tests hold the two together):
//
//   - a body is JSON only if encoding/json accepts it: gjson.ValidBytes and
//     encoding/json's nesting limit of 10000;
//   - object members match struct fields by name, exactly or else
//     case-insensitively (bytes.EqualFold, as encoding/json), in order, so
//     the last one wins; unknown members are skipped;
//   - null leaves a string, integer, bool or struct field unchanged and
//     sets a slice or pointer field to nil;
//   - a value of another JSON type than its field is an error, and so is a
//     number where an integer is due unless its literal is a plain integer
//     that fits int64: 19.99, 1e3, "100" and 9223372036854775808 are
//     refused, never truncated (strconv.ParseInt on the raw token, as
//     encoding/json; -0 is 0);
//   - strings are unquoted as encoding/json unquotes them (invalid UTF-8
//     and lone surrogates become U+FFFD).
package replyjson

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// maxDepth is encoding/json's nesting limit (scanner.go maxNestingDepth):
// a body nested deeper is not JSON to it.
const maxDepth = 10000

// Parse returns the root value of body, or false when encoding/json would
// refuse body as JSON. The body is copied once into a string; strings read
// from the result share that copy.
func Parse(body []byte) (gjson.Result, bool) {
	if !Valid(body) {
		return gjson.Result{}, false
	}
	return gjson.Parse(string(body)), true
}

// Valid reports whether encoding/json accepts body as JSON (json.Valid),
// with gjson's faster validator.
func Valid(body []byte) bool {
	return depthOK(body) && gjson.ValidBytes(body)
}

// depthOK reports whether body nests at most maxDepth arrays and objects.
// On valid JSON it counts exactly the structural brackets; on invalid JSON
// its answer does not matter (ValidBytes refuses it). It runs before
// ValidBytes, whose recursion would otherwise follow any depth.
func depthOK(body []byte) bool {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > maxDepth {
				return false
			}
		case ']', '}':
			depth--
		}
	}
	return true
}

// Field is one struct field of a reply entity: its JSON name and how a
// value is stored into it (false: the value does not fit).
type Field[T any] struct {
	Name string
	Set  func(dst *T, v gjson.Result) bool
}

// Struct stores object v into dst as encoding/json stores an object into a
// struct with these fields; null leaves dst unchanged. It reports false
// when v is neither an object nor null, or when a member does not fit its
// field.
func Struct[T any](dst *T, v gjson.Result, fields []Field[T]) bool {
	switch {
	case v.Type == gjson.Null:
		return true
	case !v.IsObject():
		return false
	}
	ok := true
	v.ForEach(func(k, val gjson.Result) bool {
		key, kok := unquote(k.Raw)
		if !kok {
			ok = false
			return false
		}
		for i := range fields {
			if f := &fields[i]; key == f.Name || strings.EqualFold(key, f.Name) {
				if !f.Set(dst, val) {
					ok = false
				}
				break
			}
		}
		return true
	})
	return ok
}

// Slice stores array v into *dst as encoding/json stores an array into a
// slice: element i is decoded into the existing element i when the slice
// (or its capacity) already has one, the slice is cut to the array's
// length, an empty array gives an empty slice and null gives nil. It
// reports false when v is neither an array nor null, or when an element
// does not fit.
func Slice[T any](dst *[]T, v gjson.Result, elem func(*T, gjson.Result) bool) bool {
	switch {
	case v.Type == gjson.Null:
		*dst = nil
		return true
	case !v.IsArray():
		return false
	}
	s, i, ok := *dst, 0, true
	v.ForEach(func(_, e gjson.Result) bool {
		switch {
		case i >= cap(s):
			var zero T
			s = append(s[:i], zero)
		case i >= len(s):
			s = s[:i+1]
		}
		if !elem(&s[i], e) {
			ok = false
		}
		i++
		return true
	})
	switch {
	case i == 0:
		s = make([]T, 0)
	case i < len(s):
		s = s[:i]
	}
	*dst = s
	return ok
}

// Pointer stores v into *dst as encoding/json stores a value into a
// pointer field: null sets it to nil; anything else is stored by set into
// the existing value, or a new one.
func Pointer[T any](dst **T, v gjson.Result, set func(*T, gjson.Result) bool) bool {
	if v.Type == gjson.Null {
		*dst = nil
		return true
	}
	if *dst == nil {
		*dst = new(T)
	}
	return set(*dst, v)
}

// String stores a JSON string (unquoted as encoding/json does); null
// leaves dst unchanged; anything else does not fit.
func String(dst *string, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		return true
	case gjson.String:
		s, ok := unquote(v.Raw)
		if ok {
			*dst = s
		}
		return ok
	}
	return false
}

// Int64 stores a JSON number whose literal is a plain integer that fits
// int64 (strconv.ParseInt on the raw token, as encoding/json: 19.99, 1e3
// and out-of-range literals do not fit, nothing is truncated); null leaves
// dst unchanged; a string or anything else does not fit.
func Int64(dst *int64, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		return true
	case gjson.Number:
		n, err := strconv.ParseInt(v.Raw, 10, 64)
		if err != nil {
			return false
		}
		*dst = n
		return true
	}
	return false
}

// Int is Int64 for an int field (64 bits on every platform the gateway
// is built for, where encoding/json's range check is the same).
func Int(dst *int, v gjson.Result) bool {
	n := int64(*dst)
	if !Int64(&n, v) || int64(int(n)) != n {
		return false
	}
	*dst = int(n)
	return true
}

// Bool stores true or false; null leaves dst unchanged; anything else
// does not fit.
func Bool(dst *bool, v gjson.Result) bool {
	switch v.Type {
	case gjson.Null:
		return true
	case gjson.True, gjson.False:
		*dst = v.Type == gjson.True
		return true
	}
	return false
}

// Any accepts any value (a json.RawMessage field that is not read).
func Any[T any](*T, gjson.Result) bool { return true }

// Text is v as a Go string as encoding/json unquotes a JSON string
// literal; false when v is not a string.
func Text(v gjson.Result) (string, bool) {
	if v.Type != gjson.String {
		return "", false
	}
	return unquote(v.Raw)
}

// Unquote is a JSON string literal (quotes included) as encoding/json
// unquotes it; false when raw is not a valid literal.
func Unquote(raw string) (string, bool) { return unquote(raw) }

// unquote is encoding/json's unquote of a string literal (decode.go
// unquoteBytes, BSD licence, The Go Authors): a literal without escapes
// and with valid UTF-8 is returned as a substring, without copying.
func unquote(raw string) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	if strings.IndexByte(s, '\\') < 0 && utf8.ValidString(s) {
		return s, true
	}
	b := make([]byte, 0, len(s)+2*utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			r++
			if r >= len(s) {
				return "", false
			}
			switch s[r] {
			default:
				return "", false
			case '"', '\\', '/', '\'':
				b = append(b, s[r])
				r++
			case 'b':
				b = append(b, '\b')
				r++
			case 'f':
				b = append(b, '\f')
				r++
			case 'n':
				b = append(b, '\n')
				r++
			case 'r':
				b = append(b, '\r')
				r++
			case 't':
				b = append(b, '\t')
				r++
			case 'u':
				r--
				rr := getu4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			}
		case c == '"', c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

// getu4 decodes \uXXXX from the start of s, or returns -1.
func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
