package domain

import (
	"io"
	"strings"
	"time"
)

// Strategy is how an overlay chooses among a streamer's eligible campaigns. The
// Go value is the legacy stored form ("fair-rotation"); GraphQL shows the enum
// name (FAIR_ROTATION).
type Strategy string

const (
	StrategyFairRotation  Strategy = "fair-rotation"
	StrategyHighestPaying Strategy = "highest-paying"
	StrategyPerformance   Strategy = "performance"
	StrategyWeighted      Strategy = "weighted"
)

// Strategies lists every strategy in enum order.
var Strategies = []Strategy{StrategyFairRotation, StrategyHighestPaying, StrategyPerformance, StrategyWeighted}

// ParseStrategy accepts the stored kebab form, the GraphQL name, or snake case,
// in any letter case, as old documents hold all of them.
func ParseStrategy(s string) (Strategy, bool) {
	norm := Strategy(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-"))
	for _, st := range Strategies {
		if st == norm {
			return st, true
		}
	}
	return "", false
}

// Name is the GraphQL enum name, e.g. FAIR_ROTATION.
func (s Strategy) Name() string { return enumName(s) }

// MarshalGQL writes the GraphQL enum name.
func (s Strategy) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *Strategy) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "CampaignSelectionStrategy", Strategies...)
	return err
}

// Weekday is a day of the week as its GraphQL enum name (MONDAY … SUNDAY),
// which is also how it is stored.
type Weekday string

var weekdays = [...]Weekday{"SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"}

// WeekdayOf returns the Weekday of a time.Weekday.
func WeekdayOf(d time.Weekday) Weekday { return weekdays[d] }

// ParseWeekday accepts a day name in any letter case or its three-letter
// abbreviation.
func ParseWeekday(s string) (Weekday, bool) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, d := range weekdays {
		if string(d) == u || (len(u) == 3 && strings.HasPrefix(string(d), u)) {
			return d, true
		}
	}
	return "", false
}

// Time returns the time.Weekday, and false for an unknown name.
func (d Weekday) Time() (time.Weekday, bool) {
	for i, w := range weekdays {
		if w == d {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// MarshalGQL writes the GraphQL enum name.
func (d Weekday) MarshalGQL(w io.Writer) { marshalEnum(w, d) }

// UnmarshalGQL reads the GraphQL enum name.
func (d *Weekday) UnmarshalGQL(v any) (err error) {
	*d, err = unmarshalEnum(v, "Weekday", weekdays[:]...)
	return err
}
