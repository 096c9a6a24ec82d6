// Package label makes a string that came with a request safe to become a
// Prometheus label value, a log field or an OpenTelemetry span attribute.
//
// Each of those has a rule a client can break with one byte: Prometheus
// panics on a label value that is not UTF-8, the OTLP exporter cannot
// encode a span holding one (and drops the whole batch it is in), and a
// log line or a series grows with whatever length the client sent. Safe
// is applied where such a string (an operation name, a user agent, a
// path…) becomes one of them.
package label

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the most bytes a safe string holds, its ellipsis included.
const MaxLen = 256

const ellipsis = "…"

// Safe returns s as valid UTF-8 of at most MaxLen bytes with no control
// characters: each invalid byte and each control character becomes U+FFFD,
// and a longer string is cut at a character boundary and ends in "…". A
// string that is already safe is returned as it is, with no allocation.
func Safe(s string) string {
	if len(s) <= MaxLen && clean(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte comes out as utf8.RuneError, U+FFFD
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		if b.Len() > MaxLen {
			break
		}
	}
	out := b.String()
	if len(out) <= MaxLen {
		return out
	}
	cut := MaxLen - len(ellipsis)
	for !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + ellipsis
}

// clean reports whether s is valid UTF-8 without control characters.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		} else if c >= 0x80 {
			if !utf8.ValidString(s[i:]) {
				return false
			}
			for _, r := range s[i:] {
				if unicode.IsControl(r) {
					return false
				}
			}
			return true
		}
	}
	return true
}
