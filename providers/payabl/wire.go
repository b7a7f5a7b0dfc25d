package payabl

import (
	"crypto/sha1"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// payabl only accepts ISO-8859-1 ("Do not try to send the gateway UTF-8
// multibyte characters", reference §1.4), and which bytes it hashes for
// non-ASCII values is undocumented. Rather than transliterate (which would
// silently change a customer's name), characters outside Latin-1 are
// rejected before sending with an error naming the canonical field; the
// rest is sent, and signed, as the Latin-1 bytes payabl receives.

// toLatin1 converts a UTF-8 string to its ISO-8859-1 bytes. ok is false when
// s holds a rune above U+00FF or invalid UTF-8.
func toLatin1(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r > 0xFF {
			return nil, false
		}
		b = append(b, byte(r))
		i += size
	}
	return b, true
}

// isLatin1 reports whether s can be sent to payabl unchanged.
func isLatin1(s string) bool {
	for _, r := range s {
		if r > 0xFF {
			return false
		}
	}
	return utf8.ValidString(s)
}

// fromLatin1 decodes ISO-8859-1 bytes into a UTF-8 string. Provider bytes
// that are already valid UTF-8 are kept as they are (payabl's examples mix
// both), so an ASCII or UTF-8 value is never double-decoded.
func fromLatin1(b string) string {
	if utf8.ValidString(b) {
		return b
	}
	var sb strings.Builder
	sb.Grow(len(b) * 2)
	for i := 0; i < len(b); i++ {
		sb.WriteRune(rune(b[i]))
	}
	return sb.String()
}

// sortedKeys returns the parameter names in byte-wise order.
func sortedKeys(params url.Values) []string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// signature computes payabl's request signature (reference §1): the values
// of every sent parameter except "signature", ordered by parameter name
// byte-wise, concatenated without separators, the secret appended, SHA-1 of
// the Latin-1 bytes, lowercase hex. Parameters must hold one value each
// and be Latin-1 (the builders guarantee both); empty values contribute
// nothing either way, so they are simply not sent.
func signature(params url.Values, secret string) string {
	h := sha1.New()
	for _, k := range sortedKeys(params) {
		if k == "signature" {
			continue
		}
		b, _ := toLatin1(params.Get(k))
		h.Write(b)
	}
	s, _ := toLatin1(secret)
	if s == nil {
		s = []byte(secret)
	}
	h.Write(s)
	return hex.EncodeToString(h.Sum(nil))
}

// encodeBody signs params and renders the form body exactly as sent:
// names in byte-wise order, "signature" last, each value percent-encoded
// from its Latin-1 bytes (so "ö" goes out as %F6, not %C3%B6).
func encodeBody(params url.Values, secret string) string {
	sig := signature(params, secret)
	var sb strings.Builder
	for _, k := range sortedKeys(params) {
		if k == "signature" {
			continue
		}
		writePair(&sb, k, params.Get(k))
	}
	writePair(&sb, "signature", sig)
	return sb.String()
}

func writePair(sb *strings.Builder, k, v string) {
	if sb.Len() > 0 {
		sb.WriteByte('&')
	}
	sb.WriteString(url.QueryEscape(k))
	sb.WriteByte('=')
	b, _ := toLatin1(v)
	// QueryEscape works byte by byte, so escaping the Latin-1 bytes
	// yields one %XX per character above 0x7F.
	sb.WriteString(url.QueryEscape(string(b)))
}

// compact drops empty values: payabl treats an absent and an empty
// parameter alike, and not sending them keeps the wire minimal.
func compact(params url.Values) url.Values {
	for k, v := range params {
		if len(v) == 0 || v[0] == "" {
			delete(params, k)
		}
	}
	return params
}
