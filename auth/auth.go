// Package auth says who is calling: session tokens (JWT, HS256) for users,
// bcrypt for passwords, and the caller carried in a request's context.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"tally/domain"
)

// Caller is whoever made a request. The zero Caller is anonymous.
type Caller struct {
	UserID string
	Role   domain.Role
	APIKey *domain.APIKey // set when a partner server called with X-Api-Key
	// User is the caller's stored user, read once when the request was
	// authenticated (its role is the one in force, not the token's); nil
	// when anonymous.
	User *domain.User
	// SessionVersion is the version the session token was issued at.
	SessionVersion int
}

// Authenticated reports whether a user signed the request.
func (c Caller) Authenticated() bool { return c.UserID != "" }

// IsAdmin reports whether the caller is an admin.
func (c Caller) IsAdmin() bool { return c.Authenticated() && c.Role == domain.RoleAdmin }

// ActsFor reports whether the caller may act as userID: is that user, or an
// admin (domain.ActsFor).
func (c Caller) ActsFor(userID string) bool { return domain.ActsFor(c.UserID, c.Role, userID) }

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller in ctx, anonymous when none.
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

type addressKey struct{}

// WithClientAddress returns ctx carrying the address the request came from
// (the HTTP layer decides it, trusting X-Forwarded-For only from configured
// proxies).
func WithClientAddress(ctx context.Context, a netip.Addr) context.Context {
	return context.WithValue(ctx, addressKey{}, a)
}

// ClientAddress returns the request's client address; ok is false when
// none is known (a call from outside HTTP).
func ClientAddress(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(addressKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

type userAgentKey struct{}

// WithUserAgent returns ctx carrying the request's User-Agent.
func WithUserAgent(ctx context.Context, ua string) context.Context {
	return context.WithValue(ctx, userAgentKey{}, ua)
}

// UserAgent returns the request's User-Agent, "" when none is known.
func UserAgent(ctx context.Context) string {
	ua, _ := ctx.Value(userAgentKey{}).(string)
	return ua
}

// Viewers hashes who is looking: a keyed hash of the client's address and
// user agent, so that a click's viewer can be recognised without either
// being stored.
type Viewers struct{ key []byte }

// NewViewers derives the viewer hash's key from the server's secret.
func NewViewers(secret []byte) *Viewers {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("tally viewer hash v1"))
	return &Viewers{key: m.Sum(nil)}
}

// Of is the viewer of ctx's request: 32 hex digits, "" when the address is
// unknown (a call from outside HTTP).
func (v *Viewers) Of(ctx context.Context) string {
	a, ok := ClientAddress(ctx)
	if v == nil || !ok {
		return ""
	}
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte(a.String()))
	m.Write([]byte{0})
	m.Write([]byte(UserAgent(ctx)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

type sessionErrKey struct{}

// WithSessionError returns ctx carrying the error that kept a bearer token's
// session from being checked (the store could not be read): RequireUser
// returns it instead of UNAUTHENTICATED.
func WithSessionError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, sessionErrKey{}, err)
}

type rejectedKey struct{}

// WithRejectedAuthorization returns ctx noting why the request's
// Authorization header was not accepted (why is the message to show):
// RequireUser's UNAUTHENTICATED says so, rather than "sign in first" to a
// caller who sent a token.
func WithRejectedAuthorization(ctx context.Context, why string) context.Context {
	return context.WithValue(ctx, rejectedKey{}, why)
}

// RequireUser returns the signed-in caller, or UNAUTHENTICATED (or the error
// that kept the session from being checked). A partner that sent only an API
// key is told that keys do not sign in, rather than "sign in first".
func RequireUser(ctx context.Context) (Caller, error) {
	c := CallerFrom(ctx)
	if err, _ := ctx.Value(sessionErrKey{}).(error); err != nil && !c.Authenticated() {
		return c, err
	}
	if !c.Authenticated() {
		if why, _ := ctx.Value(rejectedKey{}).(string); why != "" {
			return c, domain.Errorf(domain.EUNAUTHENTICATED, "%s", why)
		}
		if c.APIKey != nil {
			return c, domain.Errorf(domain.EUNAUTHENTICATED,
				"this takes a user's session token (Authorization: Bearer <token>, from logIn); API keys only record conversions")
		}
		return c, domain.Errorf(domain.EUNAUTHENTICATED, "sign in first: send Authorization: Bearer <token>")
	}
	return c, nil
}

// Require returns the signed-in caller if its role may take action a (the
// role rules are domain.Action's); UNAUTHENTICATED without a user, FORBIDDEN
// with another role.
func Require(ctx context.Context, a domain.Action) (Caller, error) {
	c, err := RequireUser(ctx)
	if err != nil {
		return c, err
	}
	return c, a.Check(c.Role)
}

// Tokens issues and verifies session tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	// verified remembers tokens whose signature and claims checked out, with
	// their validity window, so that a client's every request does not
	// parse and verify the same token again (base64, JSON and HMAC: a tenth
	// of `me`). The secret never changes while the process runs, so a token
	// once verified stays so until its window closes, which a hit checks.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	caller   Caller
	from, to time.Time // nbf (zero: none) and exp
}

// verifiedTokens bounds the remembered tokens; when full, all are forgotten.
const verifiedTokens = 10_000

const issuer = "tally"

// NewTokens returns Tokens signing with secret; tokens live for ttl.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: secret, ttl: ttl, now: now, verified: map[string]verifiedToken{}}
}

type claims struct {
	Role string `json:"role"`
	// Ver is the user's session version at issue (absent: 0).
	Ver int `json:"ver,omitempty"`
	jwt.RegisteredClaims
}

// Issue returns a signed token for the user.
func (t *Tokens) Issue(u domain.User) (string, error) {
	now := t.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Role: string(u.Role),
		Ver:  u.SessionVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			Issuer:    issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		},
	})
	return tok.SignedString(t.secret)
}

// Verify returns the caller a token names, with the role and session
// version it was issued with. Any flaw (signature, algorithm, expiry,
// issuer) is an error; callers treat the request as anonymous. Whether the
// session still stands (the user exists, the version is current) is for
// the caller to check against the stored user: see Session.
func (t *Tokens) Verify(token string) (Caller, error) {
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok {
		now := t.now()
		if now.After(v.to) || now.Before(v.from) {
			t.mu.Lock()
			delete(t.verified, token)
			t.mu.Unlock()
		} else {
			return v.caller, nil
		}
	}
	caller, from, to, err := t.verify(token)
	if err != nil {
		return Caller{}, err
	}
	t.mu.Lock()
	if len(t.verified) >= verifiedTokens {
		clear(t.verified)
	}
	t.verified[token] = verifiedToken{caller: caller, from: from, to: to}
	t.mu.Unlock()
	return caller, nil
}

// verify parses and checks token: signature, algorithm, issuer, expiry.
func (t *Tokens) verify(token string) (c Caller, from, to time.Time, err error) {
	var cl claims
	if c, err = t.parse(token, &cl); err != nil {
		return Caller{}, time.Time{}, time.Time{}, err
	}
	if cl.NotBefore != nil {
		from = cl.NotBefore.Time
	}
	return c, from, cl.ExpiresAt.Time, nil
}

func (t *Tokens) parse(token string, c *claims) (Caller, error) {
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now))
	if err != nil {
		return Caller{}, err
	}
	role, ok := domain.ParseRole(c.Role)
	if !ok || c.Subject == "" {
		return Caller{}, errors.New("token names no user or role")
	}
	return Caller{UserID: c.Subject, Role: role, SessionVersion: c.Ver}, nil
}

// Session returns the caller of a verified token as the stored user u says
// it is now: their current role, and the user itself. ok is false when the
// session has ended (logOut or changePassword raised the version since the
// token was issued).
func Session(verified Caller, u domain.User) (c Caller, ok bool) {
	if u.ID != verified.UserID || u.SessionVersion != verified.SessionVersion {
		return Caller{}, false
	}
	return Caller{UserID: u.ID, Role: u.Role, User: &u, SessionVersion: u.SessionVersion}, true
}

// Passwords hashes and checks passwords with bcrypt.
type Passwords struct {
	cost  int
	dummy []byte
}

// NewPasswords returns a bcrypt hasher of the given cost (bcrypt.DefaultCost
// in production; tests pass bcrypt.MinCost).
func NewPasswords(cost int) *Passwords {
	dummy, err := bcrypt.GenerateFromPassword([]byte("tally-dummy-password"), cost)
	if err != nil {
		panic(fmt.Sprintf("bcrypt cost %d: %v", cost, err))
	}
	return &Passwords{cost: cost, dummy: dummy}
}

// Hash returns the bcrypt hash of password.
func (p *Passwords) Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	return string(h), err
}

// Check reports whether password matches hash. An empty hash (an unknown
// user) is compared against a dummy so that a wrong email takes as long as a
// wrong password.
func (p *Passwords) Check(hash, password string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}
