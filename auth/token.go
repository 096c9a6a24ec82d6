package auth

import (
	"crypto/rand"
	"encoding/base64"
)

// NewBrowserSourceToken returns a fresh overlay token: 32 bytes from
// crypto/rand, base64url without padding (43 characters, safe in a URL path).
func NewBrowserSourceToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
