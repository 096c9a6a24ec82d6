package repository

import (
	"reflect"
	"testing"
	"time"

	"tally/domain"
)

// TestUnprojectedHistory: the status changes a pending conversion brings
// to the projector are every change after the rev last projected, and a
// conversion older than applied.rev brings its current status only.
func TestUnprojectedHistory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	history := []historyDoc{{At: t0, To: "pending"}, {At: t0.Add(time.Minute), From: "pending", To: "approved"},
		{At: t0.Add(2 * time.Minute), From: "approved", To: "rejected"}}
	rev := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		name    string
		doc     eventDoc
		want    []domain.ConversionStatus
		wantRev int64
	}{
		{"NeverProjected", eventDoc{Rev: 2, Status: "rejected", History: history},
			[]domain.ConversionStatus{"pending", "approved", "rejected"}, 0},
		{"ProjectedAtRev0", eventDoc{Rev: 2, Status: "rejected", History: history, Applied: appliedDoc{Batch: 3, Counted: true, Rev: rev(0)}},
			[]domain.ConversionStatus{"approved", "rejected"}, 1},
		{"NothingNew", eventDoc{Rev: 2, Status: "rejected", History: history, Applied: appliedDoc{Batch: 3, Counted: true, Rev: rev(2)}},
			nil, 0},
		{"ProjectedBeforeAppliedRevWasKept", eventDoc{Rev: 2, Status: "rejected", History: history, Applied: appliedDoc{Batch: 3, Counted: true}},
			[]domain.ConversionStatus{"rejected"}, 2},
		{"AnEntryWithoutTo", eventDoc{Rev: 2, Status: "rejected", History: []historyDoc{history[0],
			{At: t0.Add(time.Minute), From: "pending"}, history[2]}},
			[]domain.ConversionStatus{"pending", "approved", "rejected"}, 0}, // as a read gives it (history)
		{"HistoryShorterThanItsRev", eventDoc{Rev: 2, Status: "rejected", History: history[:1]},
			[]domain.ConversionStatus{"rejected"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.doc.CreatedAt, tc.doc.Todo = t0, true
			e := tc.doc.record(domain.EventConversion)
			var got []domain.ConversionStatus
			for _, h := range e.History {
				got = append(got, h.To)
			}
			if !reflect.DeepEqual(got, tc.want) || e.HistoryRev != tc.wantRev {
				t.Errorf("history %v from rev %d, want %v from rev %d", got, e.HistoryRev, tc.want, tc.wantRev)
			}
		})
	}
}

// TestBatchKeepsHistory: a batch in flight keeps the history it delivers,
// so a replay delivers the same steps; a batch written before it did has
// the conversion's status then as its one step.
func TestBatchKeepsHistory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	id := "0123456789abcdef01234567"
	e := domain.EventRecord{ID: id, Kind: domain.EventConversion, CampaignID: id, ParticipationID: id, StreamerID: id,
		At: t0, MoneyAt: t0.Add(2 * time.Minute), Status: domain.ConversionRejected, Rev: 2, HistoryRev: 1,
		History: []domain.StatusChange{{At: t0.Add(time.Minute), From: domain.ConversionPending.Ptr(), To: domain.ConversionApproved},
			{At: t0.Add(2 * time.Minute), From: domain.ConversionApproved.Ptr(), To: domain.ConversionRejected, Reason: "fraud"}}}
	doc, err := toBatchDoc(domain.Batch{N: 4, Events: []domain.EventRecord{e}})
	if err != nil {
		t.Fatal(err)
	}
	got, from := doc.Events[0].history(e)
	if !reflect.DeepEqual(got, e.History) || from != 1 {
		t.Errorf("kept %+v from rev %d, want %+v from 1", got, from, e.History)
	}
	doc.Events[0].History, doc.Events[0].HistoryRev = nil, 0 // written before batches kept it
	got, from = doc.Events[0].history(e)
	if want := []domain.StatusChange{{At: e.MoneyAt, To: domain.ConversionRejected}}; !reflect.DeepEqual(got, want) || from != 2 {
		t.Errorf("old batch: %+v from rev %d, want %+v from 2", got, from, want)
	}
}
