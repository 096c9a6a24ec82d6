// Package resolvers holds Tally's GraphQL resolvers. They are mappers: take
// the arguments, call one service method (which reads the caller from the
// context, authorizes and validates), map the result. Rules live in domain
// and the services, MongoDB access in repository; see docs/decisions.md,
// "Where each kind of rule lives".
package resolvers

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"

	"tally/accounts"
	"tally/campaigns"
	"tally/domain"
	"tally/live"
	"tally/overlay"
	"tally/projection"
	"tally/reports"
	"tally/tracking"
)

// Resolver is the root resolver and the dependency injection point: it holds
// the services and repositories and nothing else.
type Resolver struct {
	Accounts        *accounts.Service
	CampaignService *campaigns.Service
	Tracking        *tracking.Service
	Reports         *reports.Service
	Auditor         *projection.Auditor
	Overlays        *overlay.Service
	Live            *live.Service
	Currency        string // the platform's one currency, for Money
	BaseURL         string // this server's public URL, for overlay links
}

// invalid maps a service's error for GraphQL: of several field errors
// (domain.FieldErrors) every one but the first is added to the response and
// the first is returned, so a client sees all of them at once; any other
// error, and nil, is returned as it is.
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
