package domain

import (
	"testing"
	"time"
)

func TestCapsReached(t *testing.T) {
	t.Parallel()
	m := func(v Micros) *Micros { return &v }
	camp := Campaign{CPC: u, CPM: 1000 * u / 2} // an impression costs 0.50, a click 1.00
	for _, tc := range []struct {
		name          string
		daily         Micros
		caps          ParticipationCaps
		earned        Micros
		campDay, pDay Micros
		want          bool
	}{
		{"NoCaps", 0, ParticipationCaps{}, 100 * u, 100 * u, 100 * u, false},
		{"DailyBudgetLeavesAnImpression", 10 * u, ParticipationCaps{}, 0, 19 * u / 2, 0, false},
		{"DailyBudgetSpent", 10 * u, ParticipationCaps{}, 0, 10 * u, 0, true},
		{"DailyBudgetLeavesLessThanAnyPrice", 10 * u, ParticipationCaps{}, 0, 10*u - 1, 0, true},
		{"TotalCapReached", 0, ParticipationCaps{TotalCap: m(5 * u)}, 5 * u, 0, 0, true},
		{"TotalCapNotReached", 0, ParticipationCaps{TotalCap: m(5 * u)}, 4 * u, 0, 0, false},
		{"DailyCapReached", 0, ParticipationCaps{DailyCap: m(2 * u)}, 50 * u, 0, 2 * u, true},
		{"ZeroCapStopsAtOnce", 0, ParticipationCaps{DailyCap: m(0)}, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := camp
			c.DailyBudget = tc.daily
			p := Participation{Caps: tc.caps, Stats: ParticipationStats{Earnings: tc.earned}}
			if got := CapsReached(c, p, tc.campDay, tc.pDay); got != tc.want {
				t.Errorf("CapsReached: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCampaignTimeZone(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		tz string
		ok bool
	}{{"UTC", true}, {"Europe/Berlin", true}, {"America/New_York", true}, {"Mars/Olympus", false}, {"", false}, {"Local", false}, {"../etc/passwd", false}} {
		in := CampaignInput{TimeZone: s(tc.tz)}
		err := in.ValidateUpdate("input")
		if got := !hasFieldError(asFieldErrors(err), "input.timeZone"); got != tc.ok {
			t.Errorf("timeZone %q: valid %v, want %v (%v)", tc.tz, got, tc.ok, err)
		}
	}
	berlin := Campaign{TimeZone: "Europe/Berlin"}.Location()
	if got := LocalDay(time.Date(2026, 3, 28, 23, 30, 0, 0, time.UTC), berlin); got != "2026-03-29" {
		t.Errorf("LocalDay in Berlin: %s", got)
	}
	if (Campaign{}).Location() != time.UTC {
		t.Error("a campaign without a time zone counts its days in UTC")
	}
}

func TestParticipationCapsValidate(t *testing.T) {
	t.Parallel()
	big := MaxBudget + 1
	err := ParticipationCaps{TotalCap: &big, DailyCap: &big}.Validate("input")
	fe := asFieldErrors(err)
	if !hasFieldError(fe, "input.totalCap") || !hasFieldError(fe, "input.dailyCap") {
		t.Errorf("caps above the maximum: %v", err)
	}
	if err := (ParticipationCaps{}).Validate("input"); err != nil {
		t.Errorf("no caps: %v", err)
	}
}

func asFieldErrors(err error) FieldErrors {
	fe, _ := err.(FieldErrors)
	return fe
}
