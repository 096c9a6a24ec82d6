// Package resolvers holds Tally's GraphQL resolvers. They are mappers: take
// the arguments, call one service method (which reads the caller from the
// context, authorizes and validates), map the result. Rules live in domain
// and the services, MongoDB access in repository; see docs/decisions.md,
// "Where each kind of rule lives".
package resolvers

import (
	"tally/accounts"
	"tally/campaigns"
	"tally/live"
	"tally/overlay"
	"tally/payouts"
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
	PayoutService   *payouts.Service
	Currency        string // the platform's one currency, for Money
	BaseURL         string // this server's public URL, for overlay links
	HoldDays        int    // HOLD_DAYS: a campaign's earningsHoldDays when it sets none
}
