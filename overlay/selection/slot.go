package selection

import "time"

// maxSlotMinutes bounds the interval so that its length in seconds, and the
// slot bounds, cannot overflow; it is far beyond any sensible setting
// (about 8,000 years).
const maxSlotMinutes = 1 << 32

// SlotBounds returns the rotation slot that contains now: slots are
// intervalMinutes long and aligned to the Unix epoch in UTC, so start is now
// rounded down to a whole multiple of intervalMinutes minutes since
// 1970-01-01T00:00:00Z and end is start plus one interval. start <= now < end.
// Both are returned in UTC. An intervalMinutes below 1 is treated as 1.
//
// Every server therefore agrees on the slot without coordination, and a slot
// length that divides a day (1, 2, 3, 5, 10, 15, 30, 60 … 1440) starts at UTC
// midnight; other lengths drift relative to the day.
func SlotBounds(now time.Time, intervalMinutes int) (start, end time.Time) {
	minutes := int64(intervalMinutes)
	if minutes < 1 {
		minutes = 1
	}
	if minutes > maxSlotMinutes {
		minutes = maxSlotMinutes
	}
	size := minutes * 60
	sec := now.Unix() // floor, also before the epoch
	q := sec / size
	if sec%size < 0 {
		q-- // round toward negative infinity
	}
	return time.Unix(q*size, 0).UTC(), time.Unix((q+1)*size, 0).UTC()
}
