package postback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The headers every postback request carries.
const (
	// HeaderIdempotencyKey is the delivery's key, "<conversionId>:<rev>":
	// the same on every attempt and replay of one delivery.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderTimestamp is the moment of the attempt, in Unix seconds.
	HeaderTimestamp = "X-Tally-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed by the
	// campaign's postback secret, of the timestamp, a '.', and the payload.
	HeaderSignature = "X-Tally-Signature"
	// HeaderEvent is the step reported: "conversion" or "status".
	HeaderEvent = "X-Tally-Event"
)

// Sign returns the signature header's value for one request: the payload is
// the request's body for POST and its raw query string (what follows '?')
// for GET.
func Sign(secret string, timestamp int64, payload []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(payload)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify is what a partner does with a request: it checks the signature
// against secret in constant time and that the timestamp is within
// tolerance of now (against replays of a captured request).
func Verify(secret, timestamp, signature string, payload []byte, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, ts, payload)
	return strings.HasPrefix(signature, "sha256=") && hmac.Equal([]byte(signature), []byte(want))
}
