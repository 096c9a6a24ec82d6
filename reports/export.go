package reports

import (
	"context"
	"iter"

	"tally/auth"
	"tally/domain"
	"tally/foundation/ratelimit"
	"tally/repository"
)

// Exports answers the event export: a campaign's clicks and conversions,
// one row each, read a page at a time (docs/reports.md, "Event export").
type Exports struct {
	Campaigns      *repository.Campaigns
	Participations *repository.Participations
	Events         *repository.EventExport
	// PerUser limits each user's exports (EXPORT_LIMIT_PER_USER), counted
	// in the store; nil is unlimited.
	PerUser *repository.RateLimiter
	// PageSize is how many events of each kind one store read returns
	// (DefaultExportPageSize when 0).
	PageSize int
}

// DefaultExportPageSize is how many events of a kind one read of the export
// returns: what the server holds of an export at once, per kind.
const DefaultExportPageSize = 500

// ExportEvents authorizes and validates an export of campaignID's events
// and returns the request and its rows, which are read lazily, a page per
// store call, as the caller ranges over them, in the order of
// domain.ExportRow.Before; ranging stops at the first error, which is the
// last element.
//
// Who may export: the campaign's brand and admins, every participation's
// events or one (p.ParticipationID); a streamer, their own participation's
// events only (p.ParticipationID, if given, must be it). Errors, all before
// any row is read: UNAUTHENTICATED without a user; BAD_USER_INPUT naming
// each bad parameter; RATE_LIMITED past EXPORT_LIMIT_PER_USER; NOT_FOUND
// for a campaign or participation the caller may not see (as the API
// answers ids that do not exist); FORBIDDEN for a streamer who sees the
// campaign but takes no part in it.
func (s *Exports) ExportEvents(ctx context.Context, campaignID string, p domain.ExportParams) (domain.ExportRequest, iter.Seq2[domain.ExportRow, error], error) {
	none := domain.ExportRequest{}
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return none, nil, err
	}
	req, err := domain.ParseExportRequest(campaignID, p)
	if err != nil {
		return none, nil, err
	}
	if ok, wait, err := s.PerUser.Allow(ctx, c.UserID); err != nil {
		return none, nil, err
	} else if !ok {
		return none, nil, domain.RateLimited(wait, "too many exports; try again in %d seconds", ratelimit.RetryAfterSeconds(wait))
	}
	if req, err = s.authorize(ctx, c, req); err != nil {
		return none, nil, err
	}
	size := s.PageSize
	if size <= 0 {
		size = DefaultExportPageSize
	}
	return req, s.rows(ctx, req, size), nil
}

// authorize applies the export's access rule to req, narrowing a
// streamer's to their participation.
func (s *Exports) authorize(ctx context.Context, c auth.Caller, req domain.ExportRequest) (domain.ExportRequest, error) {
	camp, err := s.Campaigns.ByID(ctx, req.CampaignID)
	if err != nil {
		return req, err
	}
	notFound := domain.Errorf(domain.ENOTFOUND, "campaign %q not found", req.CampaignID)
	manages := domain.CanManageCampaign(c.UserID, c.Role, camp)
	if !manages && c.Role != domain.RoleStreamer {
		return req, notFound
	}
	var part domain.Participation
	switch {
	case req.ParticipationID != "":
		part, err = s.Participations.ByID(ctx, req.ParticipationID)
	case !manages: // a streamer: their own participation
		part, err = s.Participations.ByCampaignAndStreamer(ctx, camp.ID, c.UserID)
		if domain.ErrorCode(err) == domain.ENOTFOUND {
			seen, serr := domain.CanSeeCampaign(c.UserID, c.Role, camp, func() (bool, error) { return false, nil })
			if serr == nil && seen {
				return req, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand, an admin or its streamers may export its events")
			}
			return req, notFound
		}
	default:
		return req, nil
	}
	if err != nil {
		return req, err
	}
	if part.CampaignID != camp.ID || !(manages || c.ActsFor(part.StreamerID)) {
		return req, domain.Errorf(domain.ENOTFOUND, "participation %q not found", req.ParticipationID)
	}
	req.ParticipationID = part.ID
	return req, nil
}

// rows merges the two kinds' scans in export order; only the kinds asked
// are read, and each holds at most one page.
func (s *Exports) rows(ctx context.Context, req domain.ExportRequest, size int) iter.Seq2[domain.ExportRow, error] {
	return func(yield func(domain.ExportRow, error) bool) {
		var kinds []*pager
		if req.Clicks {
			scan := s.Events.Clicks(req, size)
			kinds = append(kinds, &pager{next: func() ([]domain.ExportRow, error) {
				page, err := scan.Next(ctx)
				rows := make([]domain.ExportRow, len(page))
				for i, c := range page {
					rows[i] = domain.ExportRow{Kind: domain.EventClick, Click: c}
				}
				return rows, err
			}})
		}
		if req.Conversions {
			scan := s.Events.Conversions(req, size)
			kinds = append(kinds, &pager{next: func() ([]domain.ExportRow, error) {
				page, err := scan.Next(ctx)
				rows := make([]domain.ExportRow, len(page))
				for i, c := range page {
					rows[i] = domain.ExportRow{Kind: domain.EventConversion, Conversion: c}
				}
				return rows, err
			}})
		}
		for {
			var next *pager
			for _, k := range kinds {
				if err := k.fill(); err != nil {
					yield(domain.ExportRow{}, err)
					return
				}
				if k.pos < len(k.page) && (next == nil || k.page[k.pos].Before(next.page[next.pos])) {
					next = k
				}
			}
			if next == nil {
				return
			}
			row := next.page[next.pos]
			next.pos++
			if !yield(row, nil) {
				return
			}
		}
	}
}

// pager is one kind's scan and the page in hand.
type pager struct {
	next func() ([]domain.ExportRow, error)
	page []domain.ExportRow
	pos  int
	done bool // the scan is over
}

// fill reads the next page once the one in hand is used up.
func (p *pager) fill() error {
	if p.pos < len(p.page) || p.done {
		return nil
	}
	page, err := p.next()
	if err != nil {
		return err
	}
	p.page, p.pos, p.done = page, 0, len(page) == 0
	return nil
}
