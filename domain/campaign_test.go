package domain

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// TestTransitionSources is the table of status rules: for every status a
// person may ask for, the statuses it may be reached from.
func TestTransitionSources(t *testing.T) {
	t.Parallel()
	all := []CampaignStatus{CampaignDraft, CampaignActive, CampaignPaused, CampaignExhausted, CampaignEnded}
	allowed := map[CampaignStatus][]CampaignStatus{ // target ← sources
		CampaignActive: {CampaignDraft, CampaignPaused, CampaignExhausted},
		CampaignPaused: {CampaignActive},
		CampaignEnded:  {CampaignDraft, CampaignActive, CampaignPaused, CampaignExhausted},
	}
	for _, to := range all {
		from, ok := TransitionSources(to)
		want, settable := allowed[to]
		if ok != settable {
			t.Errorf("%s: settable by a person %v, want %v", to.Name(), ok, settable)
		}
		for _, f := range all {
			if got, want := slices.Contains(from, f), slices.Contains(want, f); got != want {
				t.Errorf("%s → %s allowed %v, want %v", f.Name(), to.Name(), got, want)
			}
		}
	}
}

func TestCampaignUpdateValidateStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status CampaignStatus
		field  string
	}{
		{CampaignActive, ""},
		{CampaignPaused, ""},
		{CampaignEnded, ""},
		{CampaignDraft, "input.status"},
		{CampaignExhausted, "input.status"},
	} {
		t.Run(tc.status.Name(), func(t *testing.T) {
			u := CampaignUpdate{Status: ptrTo(tc.status)}
			wantInvalid(t, u.Validate("input"), tc.field)
		})
	}
}

func TestCampaignBillableAndEligible(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Hour), now.Add(time.Hour)
	for _, tc := range []struct {
		name               string
		c                  Campaign
		billable, eligible bool
	}{
		{"Active", Campaign{Status: CampaignActive, Budget: 10}, true, true},
		{"ActiveNoBudgetLeft", Campaign{Status: CampaignActive, Budget: 10, Spent: 10}, true, false},
		{"Paused", Campaign{Status: CampaignPaused, Budget: 10}, false, false},
		{"Draft", Campaign{Status: CampaignDraft, Budget: 10}, false, false},
		{"Exhausted", Campaign{Status: CampaignExhausted, Budget: 10}, false, false},
		{"InsideDates", Campaign{Status: CampaignActive, Budget: 10, StartsAt: &before, EndsAt: &after}, true, true},
		{"StartsAtNow", Campaign{Status: CampaignActive, Budget: 10, StartsAt: &now}, true, true},
		{"NotStarted", Campaign{Status: CampaignActive, Budget: 10, StartsAt: &after}, false, false},
		{"EndsAtNow", Campaign{Status: CampaignActive, Budget: 10, EndsAt: &now}, false, false},
		{"Ended", Campaign{Status: CampaignActive, Budget: 10, EndsAt: &before}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Billable(now); got != tc.billable {
				t.Errorf("Billable: got %v, want %v", got, tc.billable)
			}
			if got := tc.c.Eligible(now); got != tc.eligible {
				t.Errorf("Eligible: got %v, want %v", got, tc.eligible)
			}
		})
	}
}

func TestCampaignMoney(t *testing.T) {
	t.Parallel()
	c := Campaign{Budget: 5_000_000, Spent: 1_250_000, Goals: []Goal{{GoalID: "a", Payout: 1_000_000}, {GoalID: "b", Payout: 2_000_001}}}
	if got, want := c.Remaining(), Micros(3_750_000); got != want {
		t.Errorf("Remaining: got %s, want %s", got, want)
	}
	if got, want := c.MeanGoalPayout(), Micros(1_500_000); got != want { // rounded down
		t.Errorf("MeanGoalPayout: got %s, want %s", got, want)
	}
	if got := (Campaign{}).MeanGoalPayout(); got != 0 {
		t.Errorf("MeanGoalPayout without goals: got %s, want 0", got)
	}
	if g, ok := c.Goal("b"); !ok || g.Payout != 2_000_001 {
		t.Errorf("Goal(b): got %+v, %v", g, ok)
	}
	if _, ok := c.Goal("c"); ok {
		t.Error("Goal(c): found a goal the campaign lacks")
	}
}

// TestEnums: every enum is stored in its legacy form and shown as its
// GraphQL name; reading takes the exact GraphQL name.
func TestEnums(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stored, name string
		marshal      func(*bytes.Buffer)
		unmarshal    func(any) (string, error)
	}{
		{"fair-rotation", "FAIR_ROTATION", func(b *bytes.Buffer) { StrategyFairRotation.MarshalGQL(b) },
			func(v any) (string, error) { var s Strategy; err := s.UnmarshalGQL(v); return string(s), err }},
		{"highest-paying", "HIGHEST_PAYING", func(b *bytes.Buffer) { StrategyHighestPaying.MarshalGQL(b) },
			func(v any) (string, error) { var s Strategy; err := s.UnmarshalGQL(v); return string(s), err }},
		{"streamer", "STREAMER", func(b *bytes.Buffer) { RoleStreamer.MarshalGQL(b) },
			func(v any) (string, error) { var r Role; err := r.UnmarshalGQL(v); return string(r), err }},
		{"active", "ACTIVE", func(b *bytes.Buffer) { CampaignActive.MarshalGQL(b) },
			func(v any) (string, error) { var s CampaignStatus; err := s.UnmarshalGQL(v); return string(s), err }},
		{"conversions:write", "CONVERSIONS_WRITE", func(b *bytes.Buffer) { ScopeConversionsWrite.MarshalGQL(b) },
			func(v any) (string, error) { var s Scope; err := s.UnmarshalGQL(v); return string(s), err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.marshal(&b)
			if got, want := b.String(), `"`+tc.name+`"`; got != want {
				t.Errorf("MarshalGQL: got %s, want %s", got, want)
			}
			got, err := tc.unmarshal(tc.name)
			if err != nil || got != tc.stored {
				t.Errorf("UnmarshalGQL(%q): got %q, %v; want %q", tc.name, got, err, tc.stored)
			}
			for _, bad := range []any{tc.stored, "", 1} {
				if _, err := tc.unmarshal(bad); ErrorCode(err) != EINVALID {
					t.Errorf("UnmarshalGQL(%#v): code %q, want %s", bad, ErrorCode(err), EINVALID)
				}
			}
		})
	}
}

// parseCase is one spelling a Parse function reads: what it gives, and
// whether it accepts it at all.
type parseCase[T comparable] struct {
	in   string
	want T
	ok   bool
}

func checkParse[T comparable](t *testing.T, name string, parse func(string) (T, bool), cases []parseCase[T]) {
	t.Helper()
	for _, tc := range cases {
		if got, ok := parse(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("%s(%q) = %v, %v; want %v, %v", name, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseStoredForms: old documents hold every spelling; reading them is
// lenient where writing is not.
func TestParseStoredForms(t *testing.T) {
	t.Parallel()
	checkParse(t, "ParseStrategy", ParseStrategy, []parseCase[Strategy]{
		{"fair-rotation", StrategyFairRotation, true},
		{"FAIR_ROTATION", StrategyFairRotation, true},
		{"fair_rotation", StrategyFairRotation, true},
		{" Weighted ", StrategyWeighted, true},
		{"random", "", false},
	})
	checkParse(t, "ParseRole", ParseRole, []parseCase[Role]{
		{"streamer", RoleStreamer, true},
		{"BRAND", RoleBrand, true},
		{" Admin ", RoleAdmin, true},
		{"king", "", false},
	})
	checkParse(t, "ParseWeekday", ParseWeekday, []parseCase[Weekday]{
		{"monday", "MONDAY", true},
		{"Sun", "SUNDAY", true},
		{"MO", "", false},
	})
	checkParse(t, "ParseCampaignStatus", ParseCampaignStatus, []parseCase[CampaignStatus]{
		{"active", CampaignActive, true},
		{"PAUSED", CampaignPaused, true},
		{"gone", "", false},
	})
	checkParse(t, "ParseParticipationStatus", func(s string) (ParticipationStatus, bool) { return ParseParticipationStatus(s), true },
		[]parseCase[ParticipationStatus]{
			{"LEFT", ParticipationLeft, true},
			{"active", ParticipationActive, true},
			{"weird", ParticipationActive, true}, // unknown counts as active
		})
}

// TestGoalStartingStatus is the table of a new conversion's status: the
// partner's when given (PENDING included), else the goal's approval; a HOLD
// goal's hold runs whenever it starts PENDING.
func TestGoalStartingStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	hold := now.Add(3 * 24 * time.Hour)
	goals := map[string]Goal{"AUTO": {Approval: ApprovalAuto}, "REVIEW": {Approval: ApprovalReview}, "HOLD": {Approval: ApprovalHold, HoldDays: 3}}
	for _, tc := range []struct {
		goal  string
		given *ConversionStatus
		want  ConversionStatus
		until *time.Time
	}{
		{"AUTO", nil, ConversionApproved, nil},
		{"REVIEW", nil, ConversionPending, nil},
		{"HOLD", nil, ConversionPending, &hold},
		{"AUTO", ConversionPending.Ptr(), ConversionPending, nil},
		{"REVIEW", ConversionPending.Ptr(), ConversionPending, nil},
		{"HOLD", ConversionPending.Ptr(), ConversionPending, &hold},
		{"HOLD", ConversionApproved.Ptr(), ConversionApproved, nil},
		{"REVIEW", ConversionRejected.Ptr(), ConversionRejected, nil},
	} {
		got, until := goals[tc.goal].StartingStatus(now, tc.given)
		if got != tc.want || (until == nil) != (tc.until == nil) || (until != nil && !until.Equal(*tc.until)) {
			t.Errorf("%s goal, partner's %v: got %s until %v, want %s until %v", tc.goal, tc.given, got, until, tc.want, tc.until)
		}
	}
}
