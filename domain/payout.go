package domain

import (
	"io"
	"regexp"
	"strings"
	"time"
)

// The money after billing (docs/money.md): every billed amount and every
// reversal is an earning entry of one participation, held until its
// release time, then available; a payout run claims the available entries
// of each streamer whose sum reaches the minimum, one payout per streamer;
// a payout is then PAID or FAILED (a failure releases its entries).

// EntryKind says what an earning entry records.
type EntryKind string

const (
	// EntryEarning: money billed (impressions and clicks of one batch and
	// one participation together, or one conversion's approval).
	EntryEarning EntryKind = "earning"
	// EntryReversal: a billed conversion rejected; a negative amount.
	EntryReversal EntryKind = "reversal"
	// EntryCarry: what a payout leaves of its balance below the currency's
	// cent, as a pair: one negative entry the payout claims, one positive
	// entry available at once for the next payout (CarryEntries).
	EntryCarry EntryKind = "carry"
)

// Cent is the smallest amount a payout pays: payment providers take two
// decimals (docs/money.md).
const Cent Micros = 10_000

// CarryEntries are the pair of entries that carry rest (the part of a
// payout's balance below a cent) from payout p into the next one: the
// first, negative, p claims; the second is available at p's creation.
// Their ids come from p's, so they are inserted once.
func CarryEntries(p Payout) (out, in Entry) {
	out = Entry{ID: "carry:" + p.ID + ":out", Kind: EntryCarry, ParticipationID: p.CarryParticipation, CampaignID: p.CarryCampaign,
		StreamerID: p.StreamerID, Amount: -p.Carry, At: p.CreatedAt, ReleaseAt: p.CreatedAt, FirstEvent: p.ID}
	in = out
	in.ID, in.Amount = "carry:"+p.ID+":in", p.Carry
	return out, in
}

// Entry is one earning entry: what one step of projection moved for one
// participation, held until ReleaseAt. Its ID comes from the events it
// records (EntryID), so that a replay of its batch inserts nothing new.
type Entry struct {
	ID              string
	Kind            EntryKind
	ParticipationID string
	CampaignID      string
	StreamerID      string
	Amount          Micros    // negative for a reversal
	At              time.Time // the step's time (the latest of a group's events)
	ReleaseAt       time.Time // when it becomes available; a reversal's is the one of what it reverses
	Reverses        string    // a reversal: the entry it takes back
	FirstEvent      string    // the event it records, or the first of its group
	Events          int       // how many events it records
	Batch           int64     // the batch that projected it
	PayoutID        string    // the payout that claimed it; "" while unclaimed
	// MinEvent and MaxEvent bound the ids of a group's events (impressions
	// and clicks): a read of its events scans that range of one batch, not
	// the participation's history. "" for an entry written before them.
	MinEvent, MaxEvent string
}

// Spans widens e's event id range to id.
func (e *Entry) Spans(id string) {
	if e.MinEvent == "" || id < e.MinEvent {
		e.MinEvent = id
	}
	if id > e.MaxEvent {
		e.MaxEvent = id
	}
}

// EventKindOf is the kind of event an entry sums: impressions, clicks or
// conversions (a reversal's too); "" for a carry, which sums none.
func (e Entry) EventKindOf() EventKind {
	switch {
	case e.Kind == EntryCarry:
		return ""
	case e.ID == EarningEntryID(EventImpression, e.FirstEvent):
		return EventImpression
	case e.ID == EarningEntryID(EventClick, e.FirstEvent):
		return EventClick
	default:
		return EventConversion
	}
}

// EntryEvent is one event behind an earning entry and what it moved: its
// price, a conversion's payout, or minus a reversed conversion's charge.
// The amounts of an entry's events sum to the entry's.
type EntryEvent struct {
	ID     string
	Kind   EventKind
	At     time.Time
	Amount Micros
}

// EarningEntryID is the id of the entry of a group of impressions or
// clicks of one participation in one batch: from its first event, which
// belongs to that batch only.
func EarningEntryID(kind EventKind, firstEvent string) string { return string(kind) + ":" + firstEvent }

// EntrySlot is the quarter hour (UTC) of t: impressions and clicks of one
// participation, one batch and one slot make one entry. Every time zone's
// offset is a multiple of 15 minutes, so a slot lies within one day (and
// one month) of every zone.
func EntrySlot(t time.Time) time.Time { return t.UTC().Truncate(15 * time.Minute) }

// ConversionEntryID is the id of a conversion's earning entry (its
// approval billed), and with reversal the id of its reversal.
func ConversionEntryID(conversionID string, reversal bool) string {
	if reversal {
		return "conversion:" + conversionID + ":reversal"
	}
	return "conversion:" + conversionID
}

// DefaultHoldDays is the hold period of a campaign without one, unless the
// server's HOLD_DAYS says otherwise; MaxHoldDays bounds a campaign's.
const (
	DefaultHoldDays = 30
	MaxHoldDays     = 365
)

// ReleaseAt is when money moved at step time at becomes available after
// holdDays days (0: at once).
func ReleaseAt(at time.Time, holdDays int) time.Time {
	return at.Add(time.Duration(holdDays) * 24 * time.Hour).UTC()
}

// HoldDaysOf is campaign c's hold period in days: its own, or def.
func HoldDaysOf(c Campaign, def int) int {
	if c.HoldDays != nil {
		return *c.HoldDays
	}
	return def
}

// PayoutStatus is where a payout is: PENDING once its run claimed its
// entries (CLAIMING before), then PAID or FAILED by an admin.
type PayoutStatus string

const (
	PayoutClaiming PayoutStatus = "claiming" // its run is claiming its entries; shown as PENDING, not yet markable
	PayoutPending  PayoutStatus = "pending"
	PayoutPaid     PayoutStatus = "paid"
	PayoutFailed   PayoutStatus = "failed"
)

// MarshalGQL writes the GraphQL enum name (a claiming payout is PENDING).
func (s PayoutStatus) MarshalGQL(w io.Writer) {
	if s == PayoutClaiming {
		s = PayoutPending
	}
	marshalEnum(w, s)
}

// UnmarshalGQL reads the GraphQL enum name.
func (s *PayoutStatus) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "PayoutStatus", PayoutPending, PayoutPaid, PayoutFailed)
	return err
}

// PayoutRunStatus is where a run is: RUNNING until every payout of it has
// claimed its entries, then DONE.
type PayoutRunStatus string

const (
	PayoutRunRunning PayoutRunStatus = "running"
	PayoutRunDone    PayoutRunStatus = "done"
)

// MarshalGQL writes the GraphQL enum name.
func (s PayoutRunStatus) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *PayoutRunStatus) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "PayoutRunStatus", PayoutRunRunning, PayoutRunDone)
	return err
}

// PayoutRun is one admin's payout run: its key (the client's idempotency
// key), the instant whose available balances it pays and the minimum it
// pays, fixed when the run was created.
type PayoutRun struct {
	Key       string
	Instant   time.Time
	Minimum   Micros
	Status    PayoutRunStatus
	CreatedBy string
	CreatedAt time.Time
	DoneAt    *time.Time
}

// PayoutPart is what a payout pays of one participation.
type PayoutPart struct {
	ParticipationID string
	CampaignID      string
	Amount          Micros
}

// Payout is one streamer's payout of one run: the entries it lists (fixed
// when it was created), its amount (the sum of those it claimed), and the
// transfer's outcome as an admin recorded it.
type Payout struct {
	ID         string
	RunKey     string
	StreamerID string
	Status     PayoutStatus
	Amount     Micros
	Parts      []PayoutPart
	Entries    []string
	// Carry is the part of the listed balance below a cent, carried into
	// the next payout (CarryEntries) on CarryParticipation.
	Carry              Micros
	CarryParticipation string
	CarryCampaign      string
	Reference          string // the external transfer's reference (PAID, FAILED)
	Reason             string // FAILED: why
	CreatedAt          time.Time
	MarkedAt           *time.Time
	MarkedBy           string
}

// Owed reports a payout whose entries stay claimed: not FAILED.
func (p Payout) Owed() bool { return p.Status != PayoutFailed }

// RunPayoutsInput is runPayouts' input.
type RunPayoutsInput struct {
	Key string `json:"key"`
}

var payoutKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,100}$`)

// Validate checks the key: 1–100 letters, digits, '.', '_', ':' or '-'.
func (in *RunPayoutsInput) Validate(prefix string) error {
	in.Key = strings.TrimSpace(in.Key)
	if !payoutKeyPattern.MatchString(in.Key) {
		return FieldErrors{Invalid(prefix+".key", "key must be 1–100 letters, digits, '.', '_', ':' or '-'")}
	}
	return nil
}

// MarkPayoutInput is markPayout's input: PAID with the transfer's
// reference, or FAILED with the reference (when there is one) and why.
type MarkPayoutInput struct {
	Status    PayoutStatus `json:"status"`
	Reference *string      `json:"reference"`
	Reason    *string      `json:"reason"`
}

// Validate checks the input: a status PAID or FAILED, a reference of 1–200
// characters (required for PAID), a reason of at most 500.
func (in *MarkPayoutInput) Validate(prefix string) error {
	var errs FieldErrors
	for _, p := range []*string{in.Reference, in.Reason} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	if in.Status != PayoutPaid && in.Status != PayoutFailed {
		errs = append(errs, Invalid(prefix+".status", "status must be PAID or FAILED"))
	}
	switch {
	case in.Reference != nil && len(*in.Reference) > 200:
		errs = append(errs, Invalid(prefix+".reference", "reference must be at most 200 characters"))
	case in.Status == PayoutPaid && (in.Reference == nil || *in.Reference == ""):
		errs = append(errs, Invalid(prefix+".reference", "reference is required for PAID: the external transfer's id"))
	}
	if in.Reason != nil && len(*in.Reason) > 500 {
		errs = append(errs, Invalid(prefix+".reason", "reason must be at most 500 characters"))
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Balances are where one streamer's earnings stand at an instant (in total,
// or on one participation):
//
//	held        unclaimed entries not yet released
//	available   unclaimed entries released (may be below zero)
//	inPayout    entries claimed by payouts not yet PAID or FAILED
//	paid        entries claimed by PAID payouts
//	lifetime    every entry: held + available + inPayout + paid
//
// and adjustments, the part of available (or held) that takes back money
// already paid or in a payout: reversals whose earning a payout claimed.
type Balances struct {
	Held, Available, InPayout, Paid, Adjustments, Lifetime Micros
}

// PayoutParts sums claimed entries by participation, in first-seen order.
func PayoutParts(entries []Entry) (Micros, []PayoutPart) {
	var total Micros
	var parts []PayoutPart
	index := map[string]int{}
	for _, e := range entries {
		total += e.Amount
		i, ok := index[e.ParticipationID]
		if !ok {
			i = len(parts)
			index[e.ParticipationID] = i
			parts = append(parts, PayoutPart{ParticipationID: e.ParticipationID, CampaignID: e.CampaignID})
		}
		parts[i].Amount += e.Amount
	}
	return total, parts
}

// CanMarkPayout says whether p may be marked to status with reference: a
// PENDING payout may become PAID or FAILED; marking it again the same way
// (same status and reference) is the same call repeated. Anything else is
// a CONFLICT.
func CanMarkPayout(p Payout, status PayoutStatus, reference string) (repeat bool, err error) {
	switch {
	case p.Status == PayoutClaiming:
		return false, Errorf(ECONFLICT, "payout %s is still being claimed by its run; finish the run first (runPayouts with key %q)", p.ID, p.RunKey)
	case p.Status == PayoutPending:
		return false, nil
	case p.Status == status && p.Reference == reference:
		return true, nil
	}
	return false, Errorf(ECONFLICT, "payout %s is already %s", p.ID, strings.ToUpper(string(p.Status)))
}
