// Package accounts signs users up and in.
package accounts

import (
	"context"
	"fmt"
	"time"

	"tally/auth"
	"tally/domain"
	"tally/repository"
)

// Service creates accounts and exchanges credentials for session tokens.
type Service struct {
	Users     *repository.Users
	Tokens    *auth.Tokens
	Passwords *auth.Passwords
	Now       func() time.Time
}

// SignUp creates an account from validated input and returns a token for it.
// A taken email, in any letter case, is CONFLICT.
func (s *Service) SignUp(ctx context.Context, in domain.SignUp) (string, domain.User, error) {
	in.Normalize()
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
