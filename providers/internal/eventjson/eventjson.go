// Package eventjson builds the ProviderEvent of a canonical notification
// (providers.Notification) as raw JSON, without decoding a body into a
// generic map:
//
//   - Scrub copies a provider's JSON notification body, compacted, leaving
//     out the members whose key names a secret and masking the members
//     whose key names an account number, at any depth. Every other token
//     is copied byte for byte: number literals (amounts) pass through
//     exactly as the provider wrote them, strings keep their escapes.
//   - AppendString appends a Go string as a JSON string literal exactly as
//     encoding/json encodes it, for providers that build their event from
//     something else than JSON (payabl's form).
//
// Keys are compared as encoding/json would decode them and then
// lower-cased with strings.ToLower, so an escaped or differently-cased
// spelling of a secret key ("\u0073ecret", "SECRET") is dropped too.
package eventjson

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/caddy-payments/caddy-payments/providers"
	"github.com/caddy-payments/caddy-payments/providers/internal/replyjson"
)

// Rules say what Scrub leaves out and masks. Keys in Drop and Mask are
// lower-case.
type Rules struct {
	// Drop: members whose key, lower-cased, is in Drop are left out,
	// whatever their value.
	Drop map[string]bool
	// Mask: members whose key, lower-cased, is in Mask and whose value is
	// a string have it replaced by providers.MaskAccount of it.
	Mask map[string]bool
	// MaskOther: a Mask member whose value is neither a string nor null
	// becomes "****". Without it such a value is copied (and scrubbed)
	// like any other.
	MaskOther bool
	// MaxDepth, when above 0, replaces values nested deeper than MaxDepth
	// (the top object's members are at depth 1) with null: deeper
	// structure is not walked.
	MaxDepth int
}

// Scrub returns the scrubbed, compacted copy of body, which must be a JSON
// object as encoding/json accepts it (json.Valid, checked with gjson's
// faster validator by replyjson.Valid). It returns nil when body is not,
// and nil when nothing is left (an empty object), so that an omitempty
// field omits it.
//
// Strings with invalid UTF-8 have each invalid byte replaced with U+FFFD,
// as encoding/json's decoding would; nothing else is rewritten.
func Scrub(body []byte, r *Rules) json.RawMessage {
	if !replyjson.Valid(body) {
		return nil
	}
	return ScrubValid(body, r)
}

// ScrubValid is Scrub of a body the caller has just found valid with
// replyjson (replyjson.Valid, or Parse returning true), which it does not
// check again. A body that is not valid JSON is a programming error here.
func ScrubValid(body []byte, r *Rules) json.RawMessage {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil
	}
	s := scrubber{in: body, r: r, out: make([]byte, 0, len(body)), utf8OK: utf8.Valid(body)}
	s.pos = i
	s.value(0)
	if len(s.out) == 2 { // {}
		return nil
	}
	return s.out
}

type scrubber struct {
	in, out []byte
	pos     int
	r       *Rules
	utf8OK  bool
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// value copies the value at s.pos (valid JSON) and moves past it. depth is
// the value's own depth (the top object is 0).
func (s *scrubber) value(depth int) {
	s.pos = skipWS(s.in, s.pos)
	if s.r.MaxDepth > 0 && depth > s.r.MaxDepth {
		s.skip()
		s.out = append(s.out, "null"...)
		return
	}
	switch s.in[s.pos] {
	case '{':
		s.object(depth)
	case '[':
		s.out = append(s.out, '[')
		s.pos++
		first := true
		for {
			s.pos = skipWS(s.in, s.pos)
			if s.in[s.pos] == ']' {
				s.pos++
				break
			}
			if s.in[s.pos] == ',' {
				s.pos++
			}
			if !first {
				s.out = append(s.out, ',')
			}
			first = false
			s.value(depth + 1)
		}
		s.out = append(s.out, ']')
	case '"':
		end := stringEnd(s.in, s.pos)
		s.copyString(s.in[s.pos:end])
		s.pos = end
	default: // number, true, false, null: copied as they are
		start := s.pos
		s.pos = scalarEnd(s.in, s.pos)
		s.out = append(s.out, s.in[start:s.pos]...)
	}
}

// object copies the object at s.pos, member by member.
func (s *scrubber) object(depth int) {
	s.out = append(s.out, '{')
	s.pos++
	first := true
	for {
		s.pos = skipWS(s.in, s.pos)
		switch s.in[s.pos] {
		case '}':
			s.pos++
			s.out = append(s.out, '}')
			return
		case ',':
			s.pos = skipWS(s.in, s.pos+1)
		}
		kEnd := stringEnd(s.in, s.pos)
		key := s.in[s.pos:kEnd]
		s.pos = skipWS(s.in, kEnd) + 1 // past ':'
		drop, mask := s.classify(key)
		if drop {
			s.skip()
			continue
		}
		if !first {
			s.out = append(s.out, ',')
		}
		first = false
		s.copyString(key)
		s.out = append(s.out, ':')
		if mask {
			s.pos = skipWS(s.in, s.pos)
			switch c := s.in[s.pos]; {
			case c == '"':
				end := stringEnd(s.in, s.pos)
				text, _ := replyjson.Unquote(string(s.in[s.pos:end]))
				s.pos = end
				s.out = AppendString(s.out, providers.MaskAccount(text))
				continue
			case c != 'n' && s.r.MaskOther:
				s.skip()
				s.out = append(s.out, `"****"`...)
				continue
			}
		}
		s.value(depth + 1)
	}
}

// classify looks a raw key literal up in Drop and Mask. A plain ASCII key
// is lower-cased on the stack; any other is decoded and lower-cased as
// encoding/json and strings.ToLower would.
func (s *scrubber) classify(raw []byte) (drop, mask bool) {
	var buf [32]byte
	k := raw[1 : len(raw)-1]
	plain := len(k) <= len(buf)
	for _, c := range k {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		for i, c := range k {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		lk := buf[:len(k)]
		return s.r.Drop[string(lk)], s.r.Mask[string(lk)]
	}
	text, _ := replyjson.Unquote(string(raw))
	lk := strings.ToLower(text)
	return s.r.Drop[lk], s.r.Mask[lk]
}

// copyString copies a string literal; invalid UTF-8 bytes become U+FFFD.
func (s *scrubber) copyString(lit []byte) {
	if s.utf8OK || utf8.Valid(lit) {
		s.out = append(s.out, lit...)
		return
	}
	for i := 0; i < len(lit); {
		r, size := utf8.DecodeRune(lit[i:])
		if r == utf8.RuneError && size == 1 {
			s.out = append(s.out, "\uFFFD"...)
		} else {
			s.out = append(s.out, lit[i:i+size]...)
		}
		i += size
	}
}

// skip moves past the value at s.pos without copying it.
func (s *scrubber) skip() {
	s.pos = skipWS(s.in, s.pos)
	switch s.in[s.pos] {
	case '"':
		s.pos = stringEnd(s.in, s.pos)
	case '{', '[':
		depth := 0
		for ; ; s.pos++ {
			switch s.in[s.pos] {
			case '"':
				s.pos = stringEnd(s.in, s.pos) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.pos++
					return
				}
			}
		}
	default:
		s.pos = scalarEnd(s.in, s.pos)
	}
}

// stringEnd returns the index just past the string literal starting at i.
func stringEnd(b []byte, i int) int {
	for i++; b[i] != '"'; i++ {
		if b[i] == '\\' {
			i++
		}
	}
	return i + 1
}

// scalarEnd returns the index just past the number or literal at i.
func scalarEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// AppendString appends s as a JSON string literal, as encoding/json's
// Marshal encodes a string (encode.go appendString with HTML escaping,
// BSD licence, The Go Authors): <, > and & as \u003c…, control characters
// escaped, invalid UTF-8 bytes as \ufffd, U+2028 and U+2029 escaped.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
