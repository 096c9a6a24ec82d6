package domain

import (
	"io"
	"strconv"
	"time"
)

// InvalidReason is why a click is invalid traffic: counted apart, shown to
// the brand and the streamer as their own counter, never billed and never
// dropped.
type InvalidReason string

const (
	// InvalidDuplicateViewer: the same viewer (address and user agent)
	// clicked the participation's link again within the viewer window.
	InvalidDuplicateViewer InvalidReason = "duplicate_viewer"
	// InvalidRateExceeded: the participation's link drew more clicks in one
	// rate window than the per-token limit.
	InvalidRateExceeded InvalidReason = "rate_exceeded"
)

// MarshalGQL writes the GraphQL enum name.
func (r InvalidReason) MarshalGQL(w io.Writer) { marshalEnum(w, r) }

// UnmarshalGQL reads the GraphQL enum name.
func (r *InvalidReason) UnmarshalGQL(v any) (err error) {
	*r, err = unmarshalEnum(v, "InvalidClickReason", InvalidDuplicateViewer, InvalidRateExceeded)
	return err
}

// ClickFilter tells valid clicks from invalid traffic. The projector
// applies it in event order, exactly, whatever the concurrency: the same
// viewer racing is billed once.
type ClickFilter struct {
	// ViewerWindow: one viewer's clicks on one participation are valid at
	// most once per window: a click is valid when the viewer's last valid
	// click on it is at least this long before it (a sliding window); 0
	// turns the rule off.
	ViewerWindow time.Duration
	// PerToken clicks per RateWindow on one participation are valid; more
	// are invalid (every click counts toward it, valid or not). 0 turns the
	// rule off.
	PerToken   int
	RateWindow time.Duration
}

// On reports whether any rule is on.
func (f ClickFilter) On() bool { return f.ViewerWindow > 0 || (f.PerToken > 0 && f.RateWindow > 0) }

// ViewerKey names the state of one viewer on one participation: the time of
// its last valid click; "" when the rule is off or the click has no viewer.
func (f ClickFilter) ViewerKey(e EventRecord) string {
	if f.ViewerWindow <= 0 || e.Viewer == "" {
		return ""
	}
	return "v:" + e.ParticipationID + ":" + e.Viewer
}

// RateKey names the click count of one participation in the rate window of
// the click; "" when the rule is off.
func (f ClickFilter) RateKey(e EventRecord) string {
	if f.PerToken <= 0 || f.RateWindow <= 0 {
		return ""
	}
	return "r:" + e.ParticipationID + ":" + strconv.FormatInt(e.At.UnixNano()/int64(f.RateWindow), 10)
}

// Judge decides one click against the state so far, by key — a rate
// window's click count, a viewer's last valid click (Unix nanoseconds) —
// and updates it: the one statement of what invalid traffic is. Clicks are
// judged in event order.
func (f ClickFilter) Judge(e EventRecord, state map[string]int64) InvalidReason {
	if e.Kind != EventClick {
		return ""
	}
	var reason InvalidReason
	if k := f.RateKey(e); k != "" {
		state[k]++
		if state[k] > int64(f.PerToken) {
			reason = InvalidRateExceeded
		}
	}
	if k := f.ViewerKey(e); k != "" && reason == "" {
		at := e.At.UnixNano()
		if last := state[k]; last != 0 && at-last < int64(f.ViewerWindow) {
			reason = InvalidDuplicateViewer
		} else {
			state[k] = at
		}
	}
	return reason
}
