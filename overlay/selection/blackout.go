package selection

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"tally/domain"
)

// InBlackout reports whether now falls within any of the periods.
//
// Each period is evaluated on the local wall clock of its own IANA time zone:
// now is converted to that zone and its weekday and minute of the day
// (seconds ignored) are compared with the window.
//
//   - StartTime < EndTime: the window covers [StartTime, EndTime) on each
//     listed day.
//   - EndTime < StartTime: the window crosses midnight. It covers
//     [StartTime, 24:00) on each listed day and [00:00, EndTime) on the day
//     after each listed day, so "FRIDAY 22:00–02:00" covers Saturday 01:30
//     but not Friday 01:30.
//   - StartTime == EndTime (refused at input time) covers nothing.
//
// Because the comparison is made on the wall clock, daylight-saving changes
// need no special case. On a spring-forward day the skipped local times simply
// never occur: a window lying wholly inside the skipped hour covers no instant
// that day, and one straddling it covers fewer real minutes than its nominal
// length. On a fall-back day the repeated local times occur twice and a window
// covering them covers both occurrences.
//
// Day names are read with domain.ParseWeekday (any letter case, or the
// three-letter abbreviation); names it does not know match no day.
//
// A period with a time zone that cannot be loaded or a malformed clock time is
// skipped and reported in the returned error (all such periods, joined); the
// boolean is still the verdict of the remaining periods. Both are validated at
// input time, so a caller may log the error and use the boolean.
func InBlackout(periods []domain.BlackoutPeriod, now time.Time) (bool, error) {
	var (
		blackout bool
		errs     []error
	)
	for i, p := range periods {
		in, err := covers(p, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("blackout period %d: %w", i, err))
			continue
		}
		blackout = blackout || in
	}
	return blackout, errors.Join(errs...)
}

// covers reports whether the period p covers the instant now.
func covers(p domain.BlackoutPeriod, now time.Time) (bool, error) {
	start, ok := domain.ParseClock(p.StartTime)
	if !ok {
		return false, fmt.Errorf("startTime %q is not a time of day as HH:MM", p.StartTime)
	}
	end, ok := domain.ParseClock(p.EndTime)
	if !ok {
		return false, fmt.Errorf("endTime %q is not a time of day as HH:MM", p.EndTime)
	}
	loc, err := location(p.Timezone)
	if err != nil {
		return false, err
	}

	local := now.In(loc)
	day := local.Weekday()
	minute := local.Hour()*60 + local.Minute()

	switch {
	case start < end:
		return start <= minute && minute < end && listed(p.DaysOfWeek, day), nil
	case end < start:
		if minute >= start && listed(p.DaysOfWeek, day) {
			return true, nil
		}
		// The early-morning tail belongs to the window that began the day before.
		return minute < end && listed(p.DaysOfWeek, (day+6)%7), nil
	default:
		return false, nil
	}
}

// listed reports whether day is one of days.
func listed(days []domain.Weekday, day time.Weekday) bool {
	for _, d := range days {
		if wd, ok := domain.ParseWeekday(string(d)); ok {
			if t, _ := wd.Time(); t == day {
				return true
			}
		}
	}
	return false
}

// locations caches loaded time zones by name: time.LoadLocation reads and
// parses the zone database on every call, and the overlay asks on every
// request. Only successful loads are cached.
var locations sync.Map // string -> *time.Location

func location(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := domain.LoadTimezone(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", name, err)
	}
	locations.Store(name, loc)
	return loc, nil
}
