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
	return signSorted(params, sortedKeys(params), secret)
}

// signSorted is signature with the parameter names already sorted. The
// signed bytes are collected in one buffer (a value that is not Latin-1
// contributes nothing; a secret that is not is used as it is).
func signSorted(params url.Values, keys []string, secret string) string {
	n := len(secret)
	for _, k := range keys {
		n += len(params.Get(k))
	}
	buf := make([]byte, 0, n)
	for _, k := range keys {
		if k == "signature" {
			continue
		}
		if b, ok := appendLatin1(buf, params.Get(k)); ok {
			buf = b
		}
	}
	if b, ok := appendLatin1(buf, secret); ok {
		buf = b
	} else {
		buf = append(buf, secret...)
	}
	sum := sha1.Sum(buf)
	return hex.EncodeToString(sum[:])
}

// appendLatin1 appends the ISO-8859-1 bytes of s to dst (toLatin1 without
// an allocation of its own). ok is false, and dst is returned unchanged,
// when s holds a rune above U+00FF or invalid UTF-8.
func appendLatin1(dst []byte, s string) ([]byte, bool) {
	n := len(dst)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r > 0xFF {
			return dst[:n], false
		}
		dst = append(dst, byte(r))
		i += size
	}
	return dst, true
}

// encodeBody signs params and renders the form body exactly as sent:
// names in byte-wise order, "signature" last, each value percent-encoded
// from its Latin-1 bytes (so "ö" goes out as %F6, not %C3%B6).
func encodeBody(params url.Values, secret string) string {
	keys := sortedKeys(params)
	sig := signSorted(params, keys, secret)
	size := len("&signature=") + len(sig)
	for _, k := range keys {
		// Room for the common case; escaping may need more.
		size += len(k) + len(params.Get(k)) + 2
	}
	var sb strings.Builder
	sb.Grow(size + size/4)
	for _, k := range keys {
		if k == "signature" {
			continue
		}
		writePair(&sb, k, params.Get(k))
	}
	writePair(&sb, "signature", sig)
	return sb.String()
}

// writePair writes k=v: the name query-escaped, the value query-escaped
// from its Latin-1 bytes (written empty when it is not Latin-1).
func writePair(sb *strings.Builder, k, v string) {
	if sb.Len() > 0 {
		sb.WriteByte('&')
	}
	sb.WriteString(url.QueryEscape(k))
	sb.WriteByte('=')
	writeQueryLatin1(sb, v)
}

// writeQueryLatin1 writes url.QueryEscape of the Latin-1 bytes of s (one
// %XX per character above 0x7F), without building them first; nothing
// when s is not Latin-1 (as toLatin1 gives no bytes then).
func writeQueryLatin1(sb *strings.Builder, s string) {
	if !isLatin1(s) {
		return
	}
	const upperhex = "0123456789ABCDEF"
	for _, r := range s {
		c := byte(r) // r <= 0xFF: checked above
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			sb.WriteByte(c)
		case c == ' ':
			sb.WriteByte('+')
		default:
			sb.WriteByte('%')
			sb.WriteByte(upperhex[c>>4])
			sb.WriteByte(upperhex[c&15])
		}
	}
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
