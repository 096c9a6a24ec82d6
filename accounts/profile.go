package accounts

import (
	"context"

	"tally/auth"
	"tally/domain"
)

// Me returns the calling user as stored: UNAUTHENTICATED without a user, and
// when the account of the caller's token no longer exists. The request's
// authentication already read the user (to check the session), so Me answers
// from that read: one store read per request.
func (s *Service) Me(ctx context.Context) (domain.User, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.User{}, err
	}
	if c.User != nil {
		return *c.User, nil
	}
	u, err := s.Users.ByID(ctx, c.UserID)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return domain.User{}, domain.Errorf(domain.EUNAUTHENTICATED, "the account of this token no longer exists")
	}
	return u, err
}

// UpdateSelectionSettings changes the given fields of the caller's campaign
// selection settings and returns the user: UNAUTHENTICATED without a user;
// in is validated here, BAD_USER_INPUT on input.<field>, every invalid field
// at once (domain.FieldErrors).
func (s *Service) UpdateSelectionSettings(ctx context.Context, in domain.SelectionSettingsUpdate) (domain.User, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.User{}, err
	}
	if err := in.Validate("input"); err != nil {
		return domain.User{}, err
	}
	return s.Users.UpdateSelectionSettings(ctx, c.UserID, in)
}

// ShowsPrivateFields reports whether the caller may see u's private fields
// (email, overlay settings): domain.CanSeePrivateFields.
func (s *Service) ShowsPrivateFields(ctx context.Context, u domain.User) bool {
	c := auth.CallerFrom(ctx)
	return domain.CanSeePrivateFields(c.UserID, c.Role, u)
}

// User returns the user with id to that user themself and to admins
// (domain.ActsFor); NOT_FOUND for anyone else, as for an id that does not
// exist, so that ids do not reveal who has an account. UNAUTHENTICATED
// without a user. Others see a user only where they meet one: a campaign's
// brand, a participation's streamer.
func (s *Service) User(ctx context.Context, id string) (domain.User, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.User{}, err
	}
	if !c.ActsFor(id) {
		return domain.User{}, domain.Errorf(domain.ENOTFOUND, "user %q not found", id)
	}
	return s.Users.ByID(ctx, id)
}
