package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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

// APIKeyPrefix starts every API key, so that a leaked one is recognisable.
const APIKeyPrefix = "tly_"

// NewAPIKey returns a fresh API key (the prefix and 32 random bytes,
// base64url) and the hash under which it is stored.
func NewAPIKey() (key, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey is the stored form of a key: SHA-256, hex. Keys are 256 random
// bits, so a fast hash is enough; no salt or slow hash is needed.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
