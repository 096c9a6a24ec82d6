// Package accounts signs users up and in and manages their API keys.
package accounts

import (
	"context"
	"fmt"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/foundation/ratelimit"
	"tally/repository"
)

// Service creates accounts, exchanges credentials for session tokens, and
// manages partner API keys.
type Service struct {
	Users     *repository.Users
	APIKeys   *repository.APIKeys
	Tokens    *auth.Tokens
	Passwords *auth.Passwords
	Now       func() time.Time

	// Guessing limits; a nil limiter is unlimited. LogInPerAccount counts
	// log-in attempts on one email, known or not (a successful log-in
	// resets it); LogInPerAddress and SignUpPerAddress count attempts from
	// one client address. A bucket refills at its rate, so no one is locked
	// out for longer than one refill interval after the guessing stops.
	// They are counted in the store: every server process shares them.
	LogInPerAccount  *repository.RateLimiter
	LogInPerAddress  *repository.RateLimiter
	SignUpPerAddress *repository.RateLimiter
}

// throttle takes one attempt for key from l, or is RATE_LIMITED.
func throttle(ctx context.Context, l *repository.RateLimiter, key, what string) error {
	ok, wait, err := l.Allow(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return domain.RateLimited(wait, "too many %s; try again in %d seconds", what, ratelimit.RetryAfterSeconds(wait))
	}
	return nil
}

// throttleAddress takes one attempt for the request's client address, when
// it has one.
func throttleAddress(ctx context.Context, l *repository.RateLimiter, what string) error {
	a, ok := auth.ClientAddress(ctx)
	if !ok {
		return nil
	}
	return throttle(ctx, l, ratelimit.AddressKey(a), what)
}

// SignUp creates an account and returns a token for it. Anyone may. in is
// trimmed (the email lower-cased) and validated here: BAD_USER_INPUT on
// input.<field>, every invalid field at once (domain.FieldErrors). A taken
// email, in any letter case, is CONFLICT; too many sign-ups from one address
// are RATE_LIMITED.
func (s *Service) SignUp(ctx context.Context, in domain.SignUp) (string, domain.User, error) {
	in.Normalize()
	if err := in.Validate("input"); err != nil {
		return "", domain.User{}, err
	}
	if err := throttleAddress(ctx, s.SignUpPerAddress, "sign-ups from your address"); err != nil {
		return "", domain.User{}, err
	}
	if err := ctx.Err(); err != nil {
		return "", domain.User{}, err
	}
	hash, err := s.Passwords.Hash(in.Password)
	if err != nil {
		return "", domain.User{}, fmt.Errorf("hash password: %w", err)
	}
	u, err := s.Users.Create(ctx, repository.NewUser{
		Email: in.Email, PasswordHash: hash, DisplayName: in.DisplayName, Role: in.Role, CreatedAt: s.Now(),
	})
	if err != nil {
		return "", domain.User{}, err
	}
	return s.issue(u)
}

// LogIn checks an email and password. An empty one is BAD_USER_INPUT on
// input.email or input.password (both at once). Any mismatch — unknown email, wrong
// password, an account without a password — is the same UNAUTHENTICATED.
// Too many attempts on one email or from one address are RATE_LIMITED,
// before any password is checked, whether or not the account exists.
func (s *Service) LogIn(ctx context.Context, in domain.LogIn) (string, domain.User, error) {
	if err := in.Validate("input"); err != nil {
		return "", domain.User{}, err
	}
	email := domain.NormalizeEmail(in.Email)
	if err := throttleAddress(ctx, s.LogInPerAddress, "log-in attempts from your address"); err != nil {
		return "", domain.User{}, err
	}
	if err := throttle(ctx, s.LogInPerAccount, email, "log-in attempts on this account"); err != nil {
		return "", domain.User{}, err
	}
	u, hash, err := s.Users.Credentials(ctx, email)
	if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
		return "", domain.User{}, err
	}
	if err := ctx.Err(); err != nil { // the client has gone: spare the bcrypt
		return "", domain.User{}, err
	}
	if !s.Passwords.Check(hash, in.Password) {
		return "", domain.User{}, domain.Errorf(domain.EUNAUTHENTICATED, "wrong email or password")
	}
	// A reset that fails leaves the count to refill at its rate.
	_ = s.LogInPerAccount.Reset(ctx, email)
	return s.issue(u)
}

// LogOut ends every session of the signed-in caller: the tokens issued to
// them so far stop working at once. UNAUTHENTICATED without a user.
func (s *Service) LogOut(ctx context.Context) error {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return err
	}
	_, err = s.Users.EndSessions(ctx, c.UserID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return domain.Errorf(domain.EUNAUTHENTICATED, "the account of this token no longer exists")
	}
	return err
}

// ChangePassword sets the signed-in caller's password, ends every session
// issued so far and returns a token for the new one. UNAUTHENTICATED without
// a user; invalid input and a wrong current password are BAD_USER_INPUT;
// attempts count toward the account's log-in limit (RATE_LIMITED), so a
// stolen token cannot be used to guess the password faster than log-in can.
func (s *Service) ChangePassword(ctx context.Context, in domain.ChangePassword) (string, domain.User, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return "", domain.User{}, err
	}
	if err := in.Validate("input"); err != nil {
		return "", domain.User{}, err
	}
	u, hash, err := s.Users.CredentialsByID(ctx, c.UserID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return "", domain.User{}, domain.Errorf(domain.EUNAUTHENTICATED, "the account of this token no longer exists")
	}
	if err != nil {
		return "", domain.User{}, err
	}
	if err := throttle(ctx, s.LogInPerAccount, u.Email, "password attempts on this account"); err != nil {
		return "", domain.User{}, err
	}
	if err := ctx.Err(); err != nil {
		return "", domain.User{}, err
	}
	if !s.Passwords.Check(hash, in.CurrentPassword) {
		return "", domain.User{}, domain.Invalid("input.currentPassword", "the current password is wrong")
	}
	_ = s.LogInPerAccount.Reset(ctx, u.Email)
	newHash, err := s.Passwords.Hash(in.NewPassword)
	if err != nil {
		return "", domain.User{}, fmt.Errorf("hash password: %w", err)
	}
	if u, err = s.Users.SetPassword(ctx, c.UserID, newHash); err != nil {
		return "", domain.User{}, err
	}
	return s.issue(u)
}

func (s *Service) issue(u domain.User) (string, domain.User, error) {
	tok, err := s.Tokens.Issue(u)
	if err != nil {
		return "", domain.User{}, fmt.Errorf("issue token: %w", err)
	}
	return tok, u, nil
}

// CreateAPIKey makes an API key for the caller: admins and brands only
// (UNAUTHENTICATED without a user, FORBIDDEN for a streamer; a brand's key
// acts for the brand's own campaigns). in is validated here: BAD_USER_INPUT
// on input.<field>. The key is returned once; only its hash is stored.
func (s *Service) CreateAPIKey(ctx context.Context, in domain.APIKeyInput) (string, domain.APIKey, error) {
	c, err := auth.Require(ctx, domain.ActionCreateAPIKey)
	if err != nil {
		return "", domain.APIKey{}, err
	}
	if err := in.Validate("input"); err != nil {
		return "", domain.APIKey{}, err
	}
	key, hash := auth.NewAPIKey()
	k, err := s.APIKeys.Create(ctx, domain.APIKey{Name: in.Name, OwnerID: c.UserID, OwnerRole: c.Role,
		Scopes: in.Scopes, CreatedAt: s.Now()}, hash)
	if err != nil {
		return "", domain.APIKey{}, err
	}
	return key, k, nil
}

// RevokeAPIKey revokes a key: its owner or an admin (NOT_FOUND for anyone
// else, UNAUTHENTICATED without a user). It stops working at once.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (domain.APIKey, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.APIKey{}, err
	}
	k, err := s.APIKeys.ByID(ctx, id)
	if err != nil {
		return domain.APIKey{}, err
	}
	if !c.ActsFor(k.OwnerID) {
		return domain.APIKey{}, domain.Errorf(domain.ENOTFOUND, "API key %q not found", id)
	}
	return s.APIKeys.Revoke(ctx, id, s.Now())
}

// AuthenticateAPIKey returns the live key a partner sent; UNAUTHENTICATED
// for an unknown or revoked one. It stamps the key's lastUsedAt in the same
// store call.
func (s *Service) AuthenticateAPIKey(ctx context.Context, key string) (domain.APIKey, error) {
	k, err := s.APIKeys.Use(ctx, auth.HashAPIKey(key), s.Now())
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return domain.APIKey{}, domain.Errorf(domain.EUNAUTHENTICATED, "unknown or revoked API key")
	}
	return k, err
}
