// Package accounts signs users up and in and manages their API keys.
package accounts

import (
	"context"
	"fmt"
	"time"

	"tally/auth"
	"tally/domain"
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
}

// SignUp creates an account and returns a token for it. Anyone may. in is
// trimmed (the email lower-cased) and validated here: BAD_USER_INPUT on
// input.<field>, every invalid field at once (domain.FieldErrors). A taken
// email, in any letter case, is CONFLICT.
func (s *Service) SignUp(ctx context.Context, in domain.SignUp) (string, domain.User, error) {
	in.Normalize()
	if err := in.Validate("input"); err != nil {
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

// LogIn checks an email and password. Any mismatch — unknown email, wrong
// password, an account without a password — is the same UNAUTHENTICATED.
func (s *Service) LogIn(ctx context.Context, in domain.LogIn) (string, domain.User, error) {
	u, hash, err := s.Users.Credentials(ctx, domain.NormalizeEmail(in.Email))
	if err != nil && domain.ErrorCode(err) != domain.ENOTFOUND {
		return "", domain.User{}, err
	}
	if !s.Passwords.Check(hash, in.Password) {
		return "", domain.User{}, domain.Errorf(domain.EUNAUTHENTICATED, "wrong email or password")
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
