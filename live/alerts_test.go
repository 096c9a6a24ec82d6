package live

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"tally/domain"
)

// TestAlertWatch: a subscription's reads push each alert once, in order,
// from the cursor it was given; an alert of a batch stored late (an
// unordered bulk finished by a replay) is pushed when it appears; alerts
// before the cursor never are.
func TestAlertWatch(t *testing.T) {
	var stored []domain.Alert
	store := func(n int64, i int) {
		stored = append(stored, domain.Alert{ID: fmt.Sprintf("%d.%d", n, i), Seq: domain.AlertSeq(n, i)})
		slices.SortFunc(stored, func(a, b domain.Alert) int { return int(a.Seq - b.Seq) })
	}
	reads := 0
	w := &alertWatch{floor: domain.AlertSeq(5, 2), window: domain.AlertSeq(5, 2), sent: map[string]int64{},
		read: func(_ context.Context, from int64) ([]domain.Alert, error) {
			reads++
			var out []domain.Alert
			for _, a := range stored {
				if a.Seq >= from && len(out) < alertPage {
					out = append(out, a)
				}
			}
			return out, nil
		}}
	drain := func() []string {
		t.Helper()
		out := make(chan domain.Alert, 1000)
		if err := w.drain(context.Background(), out, nil); err != nil {
			t.Fatal(err)
		}
		close(out)
		var got []string
		for a := range out {
			got = append(got, a.ID)
		}
		return got
	}
	want := func(what string, got []string, ids ...string) {
		t.Helper()
		if !slices.Equal(got, ids) {
			t.Errorf("%s: pushed %q, want %q", what, got, ids)
		}
	}
	for i := range 4 {
		store(5, i)
	}
	want("from the cursor after 5.1", drain(), "5.2", "5.3")
	want("nothing new", drain())
	store(6, 0)
	store(6, 2)
	want("batch 6 as far as stored", drain(), "6.0", "6.2")
	store(6, 1)
	want("batch 6's alert stored late", drain(), "6.1")
	for i := range 250 {
		store(7, i)
	}
	got := drain()
	if len(got) != 250 || got[0] != "7.0" || got[249] != "7.249" {
		t.Errorf("a batch of 250 over three pages: %d pushed (%v…)", len(got), got[:min(3, len(got))])
	}
	want("nothing twice", drain())
	if len(w.sent) > 250 {
		t.Errorf("%d alerts remembered: only the latest batch's need be", len(w.sent))
	}
}
