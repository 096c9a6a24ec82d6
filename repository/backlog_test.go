package repository_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tally/repository"
	"tally/repository/repotest"
)

// TestBacklogRead: the pending events are counted up to the limit (Capped
// past it) and the oldest is found by when it happened; projected events
// are not pending.
func TestBacklogRead(t *testing.T) {
	t.Parallel()
	s := repotest.MustOpen(t)
	ctx := context.Background()
	backlog := repository.NewBacklog(s)
	empty, err := backlog.Read(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Pending != 0 || empty.Capped || !empty.Oldest.IsZero() {
		t.Errorf("nothing recorded: got %+v, want nothing pending", empty)
	}
	clicks := repository.NewClicks(s)
	first := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		c := newClick(fmt.Sprintf("backlog-%d", i))
		c.CreatedAt = first.Add(time.Duration(i) * time.Second)
		if _, _, err := clicks.Record(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	b, err := backlog.Read(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pending != 5 || b.Capped || !b.Oldest.Equal(first) {
		t.Errorf("5 clicks pending: got %+v, want 5, not capped, oldest %s", b, first)
	}
	if b, _ = backlog.Read(ctx, 3); b.Pending != 3 || !b.Capped {
		t.Errorf("limit 3: got %d capped %v, want 3 capped", b.Pending, b.Capped)
	}
	before, monitor := s.Calls(), s.MonitorCalls()
	if _, err := backlog.Read(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if s.Calls() != before || s.MonitorCalls()-monitor != 4 {
		t.Errorf("a read made %d request calls and %d monitor calls; want 0 and 4 (a count per event collection, the oldest of the one with any pending)",
			s.Calls()-before, s.MonitorCalls()-monitor)
	}
}
