// Package resolvers holds Tally's GraphQL resolvers. They stay thin: read the
// caller, validate the input, call one service or repository method, map the
// result. Business rules live in domain and the services, MongoDB access in
// repository.
package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"tally/accounts"
	"tally/auth"
	"tally/campaigns"
	"tally/domain"
	"tally/overlay"
	"tally/reports"
	"tally/repository"
	"tally/tracking"
)

// Resolver is the root resolver and the dependency injection point: it holds
// the services and repositories and nothing else.
type Resolver struct {
	Accounts        *accounts.Service
	Users           *repository.Users
	CampaignService *campaigns.Service
	Tracking        *tracking.Service
	Reports         *reports.Service
	Overlays        *overlay.Service
	Currency        string // the platform's one currency, for Money
	BaseURL         string // this server's public URL, for overlay links
}

// invalid reports validation errors: every field error but the first is added
// to the response, the first is returned, so a client sees all of them at once.
func invalid(ctx context.Context, err error) error {
	var fe domain.FieldErrors
	if errors.As(err, &fe) && len(fe) > 0 {
		for _, e := range fe[1:] {
			graphql.AddError(ctx, e)
		}
		return fe[0]
	}
	return err
}

// private reports whether the caller may see u's private fields (email,
// overlay settings): u themself — also on the signUp/logIn answer, before the
// request carries a token — and admins. Others reach a user as a campaign's
// brand or a participation's streamer, and an overlay token (in every click
// link a streamer shares) must not reveal them.
func private(ctx context.Context, u *domain.User) bool {
	c := auth.CallerFrom(ctx)
	return u.SignedIn || c.ActsFor(u.ID)
}
