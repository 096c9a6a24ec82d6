// Package payouts is the money after billing: the balances of streamers'
// earning entries (held, available, in a payout, paid), and the payout runs
// that pay the available ones, one payout per streamer, PENDING until an
// admin records the external transfer as PAID or FAILED. Tally records
// transfers; it makes none. See docs/money.md.
package payouts

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sort"
	"time"

	"tally/auth"
	"tally/campaigns"
	"tally/domain"
	"tally/repository"
)

// Service runs payouts and reads balances, each authorized here.
type Service struct {
	Earnings  *repository.Earnings
	Payouts   *repository.Payouts
	Users     *repository.Users
	Campaigns *campaigns.Service // participations as their caller may see them
	Minimum   domain.Micros      // PAYOUT_MINIMUM
	Currency  string
	Now       func() time.Time
	Log       *slog.Logger
}

// StreamerBalances are a streamer's balances in total and by participation.
type StreamerBalances struct {
	Total          domain.Balances
	Participations []ParticipationBalances // by campaign id
}

// ParticipationBalances are one participation's balances.
type ParticipationBalances struct {
	ParticipationID string
	CampaignID      string
	Balances        domain.Balances
}

// Balances are streamerID's balances now, in total and per campaign: the
// streamer or an admin (FORBIDDEN for anyone else, UNAUTHENTICATED without
// a user). Read from the balance counters (domain.CountedBalances): the
// streamer's lifetime and release-day counters, the entries released later
// today, the unclaimed reversals (and the earnings they take back) and the
// payouts — bounded by participations × open release days, not by entries.
func (s *Service) Balances(ctx context.Context, streamerID string) (StreamerBalances, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return StreamerBalances{}, err
	}
	if !c.ActsFor(streamerID) {
		return StreamerBalances{}, domain.Errorf(domain.EFORBIDDEN, "only the streamer or an admin sees a streamer's balances")
	}
	now := s.Now()
	in, err := s.Earnings.BalanceInputsOfStreamer(ctx, streamerID, now)
	if err != nil {
		return StreamerBalances{}, err
	}
	payouts, err := s.Payouts.OfStreamer(ctx, streamerID)
	if err != nil {
		return StreamerBalances{}, err
	}
	claimed, err := s.claimedOriginals(ctx, in.Reversals, payouts)
	if err != nil {
		return StreamerBalances{}, err
	}
	total, by := domain.CountedBalances(now, in.Counts, in.Later, in.Reversals, payouts, claimed)
	campaignOf := map[string]string{}
	for _, c := range in.Counts {
		campaignOf[c.ParticipationID] = c.CampaignID
	}
	for _, p := range payouts {
		for _, part := range p.Parts {
			campaignOf[part.ParticipationID] = part.CampaignID
		}
	}
	out := StreamerBalances{Total: total}
	for pid, b := range by {
		out.Participations = append(out.Participations, ParticipationBalances{ParticipationID: pid, CampaignID: campaignOf[pid], Balances: b})
	}
	sort.Slice(out.Participations, func(i, j int) bool {
		a, b := out.Participations[i], out.Participations[j]
		return a.CampaignID < b.CampaignID || (a.CampaignID == b.CampaignID && a.ParticipationID < b.ParticipationID)
	})
	return out, nil
}

// ParticipationBalances are one participation's balances now: whoever may
// see the participation (its streamer, its campaign's brand, admins);
// NOT_FOUND for anyone else. Read from its balance counters, as Balances.
func (s *Service) ParticipationBalances(ctx context.Context, participationID string) (domain.Balances, error) {
	p, err := s.Campaigns.Participation(ctx, participationID)
	if err != nil {
		return domain.Balances{}, err
	}
	now := s.Now()
	in, err := s.Earnings.BalanceInputsOfParticipation(ctx, p.ID, now)
	if err != nil {
		return domain.Balances{}, err
	}
	payouts, err := s.Payouts.OfStreamer(ctx, p.StreamerID)
	if err != nil {
		return domain.Balances{}, err
	}
	claimed, err := s.claimedOriginals(ctx, in.Reversals, payouts)
	if err != nil {
		return domain.Balances{}, err
	}
	_, by := domain.CountedBalances(now, in.Counts, in.Later, in.Reversals, payouts, claimed)
	return by[p.ID], nil
}

// claimedOriginals says, for the earnings the unclaimed reversals take
// back, whether a payout that is not FAILED claims them.
func (s *Service) claimedOriginals(ctx context.Context, entries []domain.Entry, payouts []domain.Payout) (map[string]bool, error) {
	var ids []string
	for _, e := range entries {
		if e.Kind == domain.EntryReversal {
			ids = append(ids, e.Reverses)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	originals, err := s.Earnings.ByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	owed := map[string]bool{}
	for _, p := range payouts {
		owed[p.ID] = p.Owed()
	}
	claimed := map[string]bool{}
	for id, e := range originals {
		claimed[id] = e.PayoutID != "" && owed[e.PayoutID]
	}
	return claimed, nil
}

// Statement is streamerID's statement of month ("YYYY-MM") in zone (an
// IANA name; nil or "" is UTC): the streamer or an admin (FORBIDDEN
// otherwise); BAD_USER_INPUT on month or timeZone. It reads the streamer's
// entries up to the month's end and their payouts (domain.BuildStatement).
func (s *Service) Statement(ctx context.Context, streamerID, month string, zone *string) (domain.Statement, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Statement{}, err
	}
	if !c.ActsFor(streamerID) {
		return domain.Statement{}, domain.Errorf(domain.EFORBIDDEN, "only the streamer or an admin sees a streamer's statements")
	}
	name, from, to, err := monthOf(month, zone, domain.DefaultTimeZone)
	if err != nil {
		return domain.Statement{}, err
	}
	entries, err := s.Earnings.OfStreamerBefore(ctx, streamerID, to)
	if err != nil {
		return domain.Statement{}, err
	}
	payouts, err := s.Payouts.OfStreamer(ctx, streamerID)
	if err != nil {
		return domain.Statement{}, err
	}
	return domain.BuildStatement(streamerID, month, name, from, to, entries, payouts), nil
}

// monthOf reads a statement's month ("YYYY-MM") and time zone (nil or ""
// is def): the zone's name and the month's bounds, or BAD_USER_INPUT on
// month and timeZone.
func monthOf(month string, zone *string, def string) (name string, from, to time.Time, err error) {
	name = def
	if zone != nil && *zone != "" {
		name = *zone
	}
	var errs domain.FieldErrors
	loc, ok := domain.LoadTimeZone(name)
	if !ok {
		errs = append(errs, domain.Invalid("timeZone", "timeZone must be an IANA time zone name, such as \"Europe/Berlin\" or \"UTC\""))
		loc = time.UTC
	}
	from, to, ok = domain.MonthRange(month, loc)
	if !ok {
		errs = append(errs, domain.Invalid("month", "month must be a calendar month as YYYY-MM, such as \"2026-11\""))
	}
	if len(errs) > 0 {
		return "", time.Time{}, time.Time{}, errs
	}
	return name, from, to, nil
}

// CampaignStatement is what campaignID spent in month ("YYYY-MM") of zone
// (nil or "": the campaign's time zone), by kind and by streamer: its brand
// and admins (FORBIDDEN for others who may see the campaign, NOT_FOUND for
// the rest); BAD_USER_INPUT on month or timeZone. One indexed read of the
// campaign's entries of the month.
func (s *Service) CampaignStatement(ctx context.Context, campaignID, month string, zone *string) (domain.CampaignStatement, error) {
	camp, err := s.Campaigns.Get(ctx, campaignID)
	if err != nil {
		return domain.CampaignStatement{}, err
	}
	c := auth.CallerFrom(ctx)
	if !domain.CanManageCampaign(c.UserID, c.Role, camp) {
		return domain.CampaignStatement{}, domain.Errorf(domain.EFORBIDDEN, "only the campaign's brand or an admin sees its statements")
	}
	name, from, to, err := monthOf(month, zone, camp.TimeZone)
	if err != nil {
		return domain.CampaignStatement{}, err
	}
	entries, err := s.Earnings.OfCampaignBetween(ctx, camp.ID, from, to)
	if err != nil {
		return domain.CampaignStatement{}, err
	}
	return domain.BuildCampaignStatement(camp.ID, month, name, from, to, entries), nil
}

// EntryEvents are one page of the events earning entry entryID sums,
// newest first, each with the money it moved: the entry's streamer, its
// campaign's brand and admins (whoever sees a statement it is a line of);
// NOT_FOUND for anyone else and for an entry that does not exist;
// BAD_USER_INPUT on entryId, first and after. A page is one indexed read,
// bounded by the page size and by one batch's events (see
// repository.Earnings.EventsOf).
func (s *Service) EntryEvents(ctx context.Context, entryID string, args domain.PageArgs) (domain.Page[domain.EntryEvent], error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return domain.Page[domain.EntryEvent]{}, err
	}
	if entryID == "" || len(entryID) > 200 {
		return domain.Page[domain.EntryEvent]{}, domain.Invalid("entryId", "entryId must be a statement line's entryId")
	}
	if err := args.Validate(); err != nil {
		return domain.Page[domain.EntryEvent]{}, err
	}
	found, err := s.Earnings.ByIDs(ctx, []string{entryID})
	if err != nil {
		return domain.Page[domain.EntryEvent]{}, err
	}
	e, ok := found[entryID]
	notFound := domain.Errorf(domain.ENOTFOUND, "no earning entry %s", entryID)
	if !ok {
		return domain.Page[domain.EntryEvent]{}, notFound
	}
	if !c.ActsFor(e.StreamerID) {
		camp, err := s.Campaigns.Get(ctx, e.CampaignID)
		if err != nil || !domain.CanManageCampaign(c.UserID, c.Role, camp) {
			return domain.Page[domain.EntryEvent]{}, notFound
		}
	}
	return s.Earnings.EventsOf(ctx, e, args)
}

// StreamerPayouts are streamerID's payouts, newest first: the streamer or
// an admin (FORBIDDEN otherwise).
func (s *Service) StreamerPayouts(ctx context.Context, streamerID string) ([]domain.Payout, error) {
	c, err := auth.RequireUser(ctx)
	if err != nil {
		return nil, err
	}
	if !c.ActsFor(streamerID) {
		return nil, domain.Errorf(domain.EFORBIDDEN, "only the streamer or an admin sees a streamer's payouts")
	}
	return s.Payouts.OfStreamer(ctx, streamerID)
}

// Run starts the payout run of in.Key, or continues the one stored under
// it: admins only (FORBIDDEN otherwise), BAD_USER_INPUT on input.key,
// CONFLICT while another key's run is unfinished. A run pays, at the
// instant it was first started, each streamer whose available balance is
// at least the minimum: one payout of exactly that balance. However often
// and however concurrently it is called with one key, it is one run and
// each streamer is paid once; a call after a crash finishes it.
func (s *Service) Run(ctx context.Context, in domain.RunPayoutsInput) (domain.PayoutRun, error) {
	c, err := auth.Require(ctx, domain.ActionRunPayouts)
	if err != nil {
		return domain.PayoutRun{}, err
	}
	if err := in.Validate("input"); err != nil {
		return domain.PayoutRun{}, err
	}
	now := s.Now()
	run, _, err := s.Payouts.StartRun(ctx, domain.PayoutRun{Key: in.Key, Instant: now, Minimum: s.Minimum, CreatedBy: c.UserID, CreatedAt: now})
	if err != nil {
		return domain.PayoutRun{}, err
	}
	if run.Status == domain.PayoutRunRunning {
		if err := s.complete(ctx, run); err != nil {
			return domain.PayoutRun{}, err
		}
	}
	return s.Payouts.Run(ctx, in.Key)
}

// complete does run's work, all of it idempotent, so any number of callers
// may do it at once or again after a crash:
//
//  1. each streamer whose released, unclaimed entries at the run's instant
//     sum to at least its minimum, and who has no payout in the run yet,
//     gets one, listing those entries (the first caller's list is
//     everyone's: the payout is created once under "<key>:<streamer>");
//     what the sum has below a cent is carried to the next payout by a
//     pair of entries (domain.CarryEntries), inserted before the claims;
//  2. each payout still CLAIMING claims the entries it lists (where no
//     payout claims them yet), then records the sum of what it claimed
//     and turns PENDING;
//  3. the run is DONE and the next run may start.
func (s *Service) complete(ctx context.Context, run domain.PayoutRun) error {
	existing, err := s.Payouts.OfRun(ctx, run.Key)
	if err != nil {
		return err
	}
	has := map[string]bool{}
	for _, p := range existing {
		has[p.StreamerID] = true
	}
	released, err := s.Earnings.Released(ctx, run.Instant)
	if err != nil {
		return err
	}
	byStreamer := map[string][]domain.Entry{}
	for _, e := range released {
		byStreamer[e.StreamerID] = append(byStreamer[e.StreamerID], e)
	}
	streamers := make([]string, 0, len(byStreamer))
	for id := range byStreamer {
		streamers = append(streamers, id)
	}
	sort.Strings(streamers)
	for _, sid := range streamers {
		if has[sid] {
			continue // its payout lists what it pays; what was released since waits for the next run
		}
		entries := byStreamer[sid]
		slices.SortFunc(entries, func(a, b domain.Entry) int { return cmp.Compare(a.ID, b.ID) })
		var sum domain.Micros
		ids := make([]string, 0, len(entries)+1)
		for _, e := range entries {
			sum += e.Amount
			ids = append(ids, e.ID)
		}
		p := domain.Payout{ID: repository.PayoutID(run.Key, sid), RunKey: run.Key, StreamerID: sid, CreatedAt: run.Instant,
			Carry: max(sum%domain.Cent, 0), CarryParticipation: entries[0].ParticipationID, CarryCampaign: entries[0].CampaignID}
		if pay := sum - p.Carry; pay < run.Minimum || pay <= 0 {
			continue
		}
		if p.Carry > 0 {
			out, _ := domain.CarryEntries(p)
			ids = append(ids, out.ID)
		}
		p.Entries = ids
		if _, err := s.Payouts.CreatePayout(ctx, p); err != nil {
			return err
		}
	}
	payouts, err := s.Payouts.OfRun(ctx, run.Key)
	if err != nil {
		return err
	}
	for _, p := range payouts {
		if p.Status != domain.PayoutClaiming {
			continue
		}
		if p.Carry > 0 {
			out, in := domain.CarryEntries(p)
			if err := s.Earnings.Insert(ctx, []domain.Entry{in, out}); err != nil {
				return err
			}
		}
		if err := s.Earnings.Claim(ctx, p.ID, p.Entries); err != nil {
			return err
		}
		claimed, err := s.Earnings.ClaimedBy(ctx, p.ID)
		if err != nil {
			return err
		}
		amount, parts := domain.PayoutParts(claimed)
		if err := s.Payouts.Claimed(ctx, p.ID, amount, parts); err != nil {
			return err
		}
	}
	return s.Payouts.FinishRun(ctx, run.Key, s.Now())
}

// ResumeRunning finishes the run a crashed caller left unfinished, if
// there is one: the server calls it at start and every minute, so a run
// completes by itself.
func (s *Service) ResumeRunning(ctx context.Context) error {
	run, ok, err := s.Payouts.Running(ctx)
	if err != nil || !ok {
		return err
	}
	return s.complete(ctx, run)
}

// ResumeEvery calls ResumeRunning at once and then every interval until ctx
// ends, logging failures.
func (s *Service) ResumeEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := s.ResumeRunning(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Error("resuming the unfinished payout run failed; retried shortly", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PayoutRun returns run key: admins only; NOT_FOUND when there is none.
func (s *Service) PayoutRun(ctx context.Context, key string) (domain.PayoutRun, error) {
	if _, err := auth.Require(ctx, domain.ActionRunPayouts); err != nil {
		return domain.PayoutRun{}, err
	}
	return s.Payouts.Run(ctx, key)
}

// RunPayouts are run key's payouts: admins only.
func (s *Service) RunPayouts(ctx context.Context, key string) ([]domain.Payout, error) {
	if _, err := auth.Require(ctx, domain.ActionRunPayouts); err != nil {
		return nil, err
	}
	return s.Payouts.OfRun(ctx, key)
}

// Mark records the external transfer of a PENDING payout: PAID with its
// reference, or FAILED (the reference when there is one, and why), which
// returns its amount to the streamer's available balance. Admins only
// (FORBIDDEN otherwise); BAD_USER_INPUT on input.status, input.reference,
// input.reason; NOT_FOUND for an unknown payout; CONFLICT for one already
// marked otherwise or still being claimed. Marking it again the same way
// is the same call (and finishes a release a crash interrupted).
func (s *Service) Mark(ctx context.Context, id string, in domain.MarkPayoutInput) (domain.Payout, error) {
	c, err := auth.Require(ctx, domain.ActionRunPayouts)
	if err != nil {
		return domain.Payout{}, err
	}
	if err := in.Validate("input"); err != nil {
		return domain.Payout{}, err
	}
	ref, reason := deref(in.Reference), deref(in.Reason)
	for {
		p, err := s.Payouts.Payout(ctx, id)
		if err != nil {
			return domain.Payout{}, err
		}
		repeat, err := domain.CanMarkPayout(p, in.Status, ref)
		if err != nil {
			return domain.Payout{}, err
		}
		if !repeat {
			ok, err := s.Payouts.Mark(ctx, id, in.Status, ref, reason, c.UserID, s.Now())
			if err != nil {
				return domain.Payout{}, err
			}
			if !ok {
				continue // marked meanwhile: judge again
			}
		}
		if in.Status == domain.PayoutFailed {
			if err := s.Earnings.Release(ctx, id); err != nil {
				return domain.Payout{}, err
			}
		}
		return s.Payouts.Payout(ctx, id)
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// WriteCSV writes run key's payouts as a PayPal Payouts payment file
// (docs/money.md): one row per PENDING payout, no header — recipient email,
// amount, currency, customer id (the streamer's id), note. Admins only;
// NOT_FOUND for an unknown run, CONFLICT for one not DONE. Rows are written
// as they are read, a thousand streamers at a time.
func (s *Service) WriteCSV(ctx context.Context, key string, w io.Writer) error {
	run, err := s.PayoutRun(ctx, key)
	if err != nil {
		return err
	}
	if run.Status != domain.PayoutRunDone {
		return domain.Errorf(domain.ECONFLICT, "payout run %q is not finished; call runPayouts with its key first", key)
	}
	payouts, err := s.Payouts.OfRun(ctx, key)
	if err != nil {
		return err
	}
	out := csv.NewWriter(w)
	for chunk := range slices.Chunk(payouts, 1000) {
		ids := make([]string, 0, len(chunk))
		for _, p := range chunk {
			ids = append(ids, p.StreamerID)
		}
		users, err := s.Users.ByIDs(ctx, ids)
		if err != nil {
			return err
		}
		for _, p := range chunk {
			if p.Status != domain.PayoutPending || p.Amount <= 0 {
				continue
			}
			u, ok := users[p.StreamerID]
			if !ok {
				return errors.New("payout " + p.ID + ": its streamer no longer exists")
			}
			if err := out.Write([]string{u.Email, p.Amount.String(), s.Currency, p.StreamerID, "Tally payout " + run.Key}); err != nil {
				return err
			}
		}
		out.Flush()
		if err := out.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Total is the sum of payouts that are not FAILED.
func Total(list []domain.Payout) domain.Micros {
	var sum domain.Micros
	for _, p := range list {
		if p.Owed() {
			sum += p.Amount
		}
	}
	return sum
}
