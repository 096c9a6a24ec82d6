package selection

import (
	"testing"
	"time"

	_ "time/tzdata" // the tests must not depend on the machine's zone database

	"tally/domain"
)

func period(tz, start, end string, days ...domain.Weekday) domain.BlackoutPeriod {
	return domain.BlackoutPeriod{DaysOfWeek: days, StartTime: start, EndTime: end, Timezone: tz}
}

// instant parses an RFC 3339 time; writing the offset keeps DST cases unambiguous.
func instant(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return ts
}

// blackoutCase is one instant (RFC 3339) and whether it is in blackout.
type blackoutCase struct {
	name string
	now  string
	want bool
}

func TestInBlackout(t *testing.T) {
	const (
		mon, tue, wed, fri, sat, sun = domain.Weekday("MONDAY"), domain.Weekday("TUESDAY"),
			domain.Weekday("WEDNESDAY"), domain.Weekday("FRIDAY"), domain.Weekday("SATURDAY"), domain.Weekday("SUNDAY")
		ny, berlin = "America/New_York", "Europe/Berlin"
	)
	// 2025-06-02 is a Monday, 2025-06-06 a Friday.
	workday := period("UTC", "09:00", "17:00", mon)
	fridayNight := period("UTC", "22:00", "02:00", fri)

	groups := []struct {
		name    string
		periods []domain.BlackoutPeriod
		cases   []blackoutCase
	}{
		{"SameDayWindow", []domain.BlackoutPeriod{workday}, []blackoutCase{
			{"StartIsInclusive", "2025-06-02T09:00:00Z", true},
			{"Inside", "2025-06-02T12:34:56Z", true},
			{"LastInstantBeforeEndIsInside", "2025-06-02T16:59:59.999999999Z", true},
			{"EndIsExclusive", "2025-06-02T17:00:00Z", false},
			{"JustBeforeStart", "2025-06-02T08:59:59Z", false},
			{"SameTimeOnUnlistedDay", "2025-06-03T12:00:00Z", false},
			{"NowInAnotherZoneIsConverted", "2025-06-02T14:00:00+02:00", true},
		}},
		{"WindowCrossingMidnight", []domain.BlackoutPeriod{fridayNight}, []blackoutCase{
			{"ListedDayAtStart", "2025-06-06T22:00:00Z", true},
			{"ListedDayBeforeMidnight", "2025-06-06T23:59:59Z", true},
			{"DayAfterAtMidnight", "2025-06-07T00:00:00Z", true},
			{"DayAfterEarlyMorning", "2025-06-07T01:30:00Z", true},
			{"DayAfterAtEndIsExclusive", "2025-06-07T02:00:00Z", false},
			{"ListedDayEarlyMorningIsNotCovered", "2025-06-06T01:30:00Z", false},
			{"DayAfterLateEvening", "2025-06-07T23:00:00Z", false},
			{"DayBeforeLateEvening", "2025-06-05T23:00:00Z", false},
		}},
		{"CrossingMidnightWrapsSaturdayToSunday", []domain.BlackoutPeriod{period("UTC", "22:00", "02:00", sat)}, []blackoutCase{
			{"SundayEarlyMorning", "2025-06-08T01:00:00Z", true},
			{"SaturdayEarlyMorning", "2025-06-07T01:00:00Z", false},
		}},
		{"EndAtMidnightCoversRestOfDay", []domain.BlackoutPeriod{period("UTC", "22:00", "00:00", fri)}, []blackoutCase{
			{"LastMinute", "2025-06-06T23:59:00Z", true},
			{"MidnightIsExclusive", "2025-06-07T00:00:00Z", false},
		}},
		{"DaysOfWeek", []domain.BlackoutPeriod{period("UTC", "09:00", "17:00", mon, wed)}, []blackoutCase{
			{"FirstListedDay", "2025-06-02T10:00:00Z", true},
			{"SecondListedDay", "2025-06-04T10:00:00Z", true},
			{"DayBetween", "2025-06-03T10:00:00Z", false},
			{"Weekend", "2025-06-08T10:00:00Z", false},
		}},
		{"LegacyDayNamesAreRead", []domain.BlackoutPeriod{period("UTC", "09:00", "17:00", "tuesday", "Wed")}, []blackoutCase{
			{"LowerCase", "2025-06-03T10:00:00Z", true},
			{"Abbreviation", "2025-06-04T10:00:00Z", true},
		}},
		{"UnknownDayMatchesNothing", []domain.BlackoutPeriod{period("UTC", "00:00", "23:59", "FUNDAY")}, []blackoutCase{
			{"AnyDay", "2025-06-02T10:00:00Z", false},
		}},
		{"AnyPeriodCovers", []domain.BlackoutPeriod{workday, fridayNight}, []blackoutCase{
			{"First", "2025-06-02T10:00:00Z", true},
			{"Second", "2025-06-07T01:00:00Z", true},
			{"Neither", "2025-06-03T10:00:00Z", false},
		}},
		{"NoPeriods", nil, []blackoutCase{
			{"NeverBlackout", "2025-06-02T10:00:00Z", false},
		}},
		{"EmptyWindowCoversNothing", []domain.BlackoutPeriod{period("UTC", "10:00", "10:00", mon)}, []blackoutCase{
			{"AtStart", "2025-06-02T10:00:00Z", false},
		}},
		{"AsiaTokyoWeekdayIsLocal", []domain.BlackoutPeriod{period("Asia/Tokyo", "08:00", "09:00", mon)}, []blackoutCase{
			{"SundayInUTCIsMondayInTokyo", "2025-06-01T23:30:00Z", true},
			{"MondayInUTCIsMondayEveningInTokyo", "2025-06-02T08:30:00Z", false},
		}},
		{"PacificKiritimatiUTCPlus14", []domain.BlackoutPeriod{period("Pacific/Kiritimati", "00:00", "06:00", sun)}, []blackoutCase{
			{"SaturdayInUTCIsSundayMidnightThere", "2025-06-07T10:00:00Z", true},
			{"LastInstant", "2025-06-07T15:59:59Z", true},
			{"End", "2025-06-07T16:00:00Z", false},
			{"SundayInUTCIsMondayThere", "2025-06-08T10:00:00Z", false},
		}},
		{"PacificPagoPagoUTCMinus11CrossingMidnight", []domain.BlackoutPeriod{period("Pacific/Pago_Pago", "23:00", "01:00", tue)}, []blackoutCase{
			{"TuesdayLateThereIsWednesdayInUTC", "2025-06-04T10:30:00Z", true},
			{"WednesdayEarlyThere", "2025-06-04T11:30:00Z", true},
			{"EndThere", "2025-06-04T12:00:00Z", false},
		}},

		// 2025-03-09, America/New_York: 02:00 EST jumps to 03:00 EDT (07:00Z).
		{"NewYorkSpringForwardStraddlingWindow", []domain.BlackoutPeriod{period(ny, "01:30", "03:00", sun)}, []blackoutCase{
			{"StartBeforeJump", "2025-03-09T01:30:00-05:00", true},
			{"LastInstantBeforeJump", "2025-03-09T01:59:59-05:00", true},
			{"AfterJumpWallClockIsAlreadyEnd", "2025-03-09T03:00:00-04:00", false},
		}},
		{"NewYorkSpringForwardWindowInSkippedHourNeverOccurs", []domain.BlackoutPeriod{period(ny, "02:00", "02:30", sun)}, []blackoutCase{
			{"BeforeJump", "2025-03-09T06:59:59Z", false},
			{"AtJump", "2025-03-09T07:00:00Z", false},
			{"QuarterHourAfterJump", "2025-03-09T07:15:00Z", false},
			{"OccursTheNextSunday", "2025-03-16T02:15:00-04:00", true},
		}},
		{"NewYorkSpringForwardWindowFromSkippedHour", []domain.BlackoutPeriod{period(ny, "02:00", "04:00", sun)}, []blackoutCase{
			{"BeforeJump", "2025-03-09T01:59:59-05:00", false},
			{"AtJump", "2025-03-09T03:00:00-04:00", true},
			{"End", "2025-03-09T04:00:00-04:00", false},
		}},
		{"NewYorkSpringForwardCrossingMidnight", []domain.BlackoutPeriod{period(ny, "23:00", "02:30", sat)}, []blackoutCase{
			{"SaturdayBeforeStart", "2025-03-08T22:59:00-05:00", false},
			{"SaturdayStart", "2025-03-08T23:00:00-05:00", true},
			{"SundayBeforeJump", "2025-03-09T01:59:59-05:00", true},
			{"SundayAfterJump", "2025-03-09T03:00:00-04:00", false},
		}},
		// 2025-11-02, America/New_York: 02:00 EDT falls back to 01:00 EST (06:00Z).
		{"NewYorkFallBackRepeatedHourCoveredTwice", []domain.BlackoutPeriod{period(ny, "01:30", "02:00", sun)}, []blackoutCase{
			{"FirstOccurrenceStart", "2025-11-02T01:30:00-04:00", true},
			{"FirstOccurrenceLastInstant", "2025-11-02T01:59:59-04:00", true},
			{"BetweenOccurrences", "2025-11-02T01:00:00-05:00", false},
			{"SecondOccurrenceStart", "2025-11-02T01:30:00-05:00", true},
			{"SecondOccurrenceEnd", "2025-11-02T02:00:00-05:00", false},
		}},
		// 2025-03-30, Europe/Berlin: 02:00 CET jumps to 03:00 CEST (01:00Z).
		{"BerlinSpringForwardStraddlingWindow", []domain.BlackoutPeriod{period(berlin, "01:00", "04:00", sun)}, []blackoutCase{
			{"SaturdayNightIsNotSunday", "2025-03-29T23:59:00Z", false},
			{"Start", "2025-03-30T00:00:00Z", true},
			{"BeforeJump", "2025-03-30T00:59:59Z", true},
			{"AfterJump", "2025-03-30T01:00:00Z", true},
			{"LastInstant", "2025-03-30T01:59:59Z", true},
			{"EndAfterTwoRealHours", "2025-03-30T02:00:00Z", false},
		}},
		{"BerlinSpringForwardWindowInSkippedHourNeverOccurs", []domain.BlackoutPeriod{period(berlin, "02:15", "02:45", sun)}, []blackoutCase{
			{"BeforeJump", "2025-03-30T00:59:59Z", false},
			{"AfterJump", "2025-03-30T01:30:00Z", false},
		}},
		// 2025-10-26, Europe/Berlin: 03:00 CEST falls back to 02:00 CET (01:00Z).
		{"BerlinFallBackRepeatedHourCoveredTwice", []domain.BlackoutPeriod{period(berlin, "02:15", "02:45", sun)}, []blackoutCase{
			{"FirstOccurrence", "2025-10-26T02:15:00+02:00", true},
			{"FirstOccurrenceEnd", "2025-10-26T02:45:00+02:00", false},
			{"BetweenOccurrences", "2025-10-26T02:00:00+01:00", false},
			{"SecondOccurrence", "2025-10-26T02:15:00+01:00", true},
			{"SecondOccurrenceEnd", "2025-10-26T02:45:00+01:00", false},
		}},
	}

	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) {
					now := instant(t, tc.now)
					got, err := InBlackout(g.periods, now)
					if err != nil {
						t.Fatalf("InBlackout(%s) error: %v", tc.now, err)
					}
					if got != tc.want {
						t.Errorf("InBlackout(%s) = %v, want %v", tc.now, got, tc.want)
					}
				})
			}
		})
	}
}

func TestInBlackoutInvalidPeriods(t *testing.T) {
	now := instant(t, "2025-06-02T10:00:00Z") // a Monday
	covering := period("UTC", "09:00", "17:00", "MONDAY")
	tests := []struct {
		name    string
		periods []domain.BlackoutPeriod
		want    bool
	}{
		{"UnknownTimezone", []domain.BlackoutPeriod{period("Mars/Olympus_Mons", "09:00", "17:00", "MONDAY")}, false},
		{"EmptyTimezone", []domain.BlackoutPeriod{period("", "09:00", "17:00", "MONDAY")}, false},
		{"LocalTimezoneIsRefused", []domain.BlackoutPeriod{period("Local", "09:00", "17:00", "MONDAY")}, false},
		{"MalformedStart", []domain.BlackoutPeriod{period("UTC", "9:00", "17:00", "MONDAY")}, false},
		{"MalformedEnd", []domain.BlackoutPeriod{period("UTC", "09:00", "24:00", "MONDAY")}, false},
		{"ValidPeriodStillCounts", []domain.BlackoutPeriod{period("Nowhere/Else", "09:00", "17:00", "MONDAY"), covering}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InBlackout(tc.periods, now)
			if err == nil {
				t.Fatal("want an error for the invalid period")
			}
			if got != tc.want {
				t.Errorf("InBlackout = %v, want %v", got, tc.want)
			}
		})
	}
}
