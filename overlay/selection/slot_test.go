package selection

import (
	"math"
	"testing"
	"time"
)

func TestSlotBounds(t *testing.T) {
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		now       time.Time
		minutes   int
		wantStart string
		wantEnd   string
	}{
		{"AlignedToEpoch", instant(t, "1970-01-01T00:04:30Z"), 3, "1970-01-01T00:03:00Z", "1970-01-01T00:06:00Z"},
		{"BoundaryStartsNewSlot", instant(t, "2025-06-02T12:03:00Z"), 3, "2025-06-02T12:03:00Z", "2025-06-02T12:06:00Z"},
		{"LastInstantBeforeBoundary", instant(t, "2025-06-02T12:02:59.999999999Z"), 3, "2025-06-02T12:00:00Z", "2025-06-02T12:03:00Z"},
		{"SubSecondsDropped", instant(t, "2025-06-02T12:04:05.123Z"), 1, "2025-06-02T12:04:00Z", "2025-06-02T12:05:00Z"},
		{"ZeroIntervalIsOneMinute", instant(t, "2025-06-02T12:04:05Z"), 0, "2025-06-02T12:04:00Z", "2025-06-02T12:05:00Z"},
		{"NegativeIntervalIsOneMinute", instant(t, "2025-06-02T12:04:05Z"), -5, "2025-06-02T12:04:00Z", "2025-06-02T12:05:00Z"},
		{"DayLongSlotStartsAtUTCMidnight", instant(t, "2025-06-02T23:59:59+09:00"), 1440, "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z"},
		{"AlignedToUTCNotLocalTime", time.Date(2025, 6, 2, 12, 10, 0, 0, kolkata), 60, "2025-06-02T06:00:00Z", "2025-06-02T07:00:00Z"},
		// 7 minutes does not divide a day: slots count from the epoch, not from midnight
		// (20241 days × 1440 min = 29147040 min ≡ 6 mod 7, so midnight is 6 minutes into a slot).
		{"IntervalNotDividingADayCountsFromEpoch", instant(t, "2025-06-02T00:00:00Z"), 7, "2025-06-01T23:54:00Z", "2025-06-02T00:01:00Z"},
		{"BeforeTheEpoch", instant(t, "1969-12-31T23:59:30Z"), 1, "1969-12-31T23:59:00Z", "1970-01-01T00:00:00Z"},
		{"BeforeTheEpochWithNanoseconds", instant(t, "1969-12-31T23:56:59.5Z"), 3, "1969-12-31T23:54:00Z", "1969-12-31T23:57:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, end := SlotBounds(tc.now, tc.minutes)
			if got := start.Format(time.RFC3339Nano); got != tc.wantStart {
				t.Errorf("start = %s, want %s", got, tc.wantStart)
			}
			if got := end.Format(time.RFC3339Nano); got != tc.wantEnd {
				t.Errorf("end = %s, want %s", got, tc.wantEnd)
			}
			if start.Location() != time.UTC || end.Location() != time.UTC {
				t.Errorf("bounds not in UTC: %v, %v", start.Location(), end.Location())
			}
			if tc.now.Before(start) || !tc.now.Before(end) {
				t.Errorf("now %v not in [%v, %v)", tc.now, start, end)
			}
		})
	}

	t.Run("EveryIntervalContainsNowAndIsAligned", func(t *testing.T) {
		now := instant(t, "2025-06-02T13:37:42.5Z")
		for minutes := 1; minutes <= 1440; minutes++ {
			start, end := SlotBounds(now, minutes)
			size := int64(minutes) * 60
			if start.Unix()%size != 0 || end.Sub(start) != time.Duration(size)*time.Second ||
				now.Before(start) || !now.Before(end) {
				t.Fatalf("%d minutes: [%v, %v) for %v", minutes, start, end, now)
			}
		}
	})

	t.Run("HugeIntervalDoesNotOverflow", func(t *testing.T) {
		now := instant(t, "2025-06-02T13:37:42Z")
		start, end := SlotBounds(now, math.MaxInt)
		if now.Before(start) || !now.Before(end) {
			t.Errorf("now %v not in [%v, %v)", now, start, end)
		}
	})
}
