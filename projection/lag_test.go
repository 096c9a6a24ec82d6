package projection

import (
	"testing"
	"time"

	"tally/domain"
)

// TestLagIsFromTheStep: an event's projection lag runs from the step the
// batch projects — a conversion's last status change, a click's recording —
// so a sale rejected days after it was recorded and projected a second later
// is a second of lag in /readyz and the metric, not days.
func TestLagIsFromTheStep(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	rejected := t0.Add(72 * time.Hour)
	p := &Projector{clock: func() time.Time { return rejected.Add(time.Second) }}
	p.observe(domain.Batch{Events: []domain.EventRecord{
		{ID: "sale", Kind: domain.EventConversion, At: t0, MoneyAt: rejected, Status: domain.ConversionRejected},
		{ID: "click", Kind: domain.EventClick, At: rejected.Add(-time.Second)},
	}})
	l := p.Lag()
	if l.Events != 2 || l.Last != 2*time.Second || l.Max != 2*time.Second {
		t.Errorf("lag: events %d, last %v, max %v; want 2 events, last and max 2s (the click), not the sale's 72h", l.Events, l.Last, l.Max)
	}
}
