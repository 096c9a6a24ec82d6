package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/domain"
	"tally/repository"
)

// The tracking benchmarks. docs/benchmarks.md records their figures as
// ratios to the bare repository upsert (BenchmarkRepositoryClickRecord) and
// the command that reproduces them. Run with a fixed -benchtime count: the
// embedded engine copies a collection on each write, so per-op cost grows with
// the collection and open-ended b.N would measure that instead.

func benchApp(b *testing.B) (*testApp, string, string) {
	a := mustStartApp(b)
	brand := a.mustSignUp("BRAND")
	streamer := a.mustSignUp("STREAMER")
	in := campaignInput("Bench")
	in["budget"] = "1000000.00"
	c := a.mustCreateCampaign(brand, in)
	a.mustSetStatus(brand, c.ID, "ACTIVE")
	tok := token(b, a.mustJoin(streamer, c.ID))
	key, _ := a.mustAPIKey(brand)
	return a, tok, key
}

const benchClick = `mutation($t: String!, $c: String) { recordClick(input: {browserSourceToken: $t, clickId: $c}) { isNew click { billed } } }`
const benchConversion = `mutation($c: String!) { recordConversion(input: {clickId: $c, goalId: "signup"}) { isNew conversion { billed } } }`

// BenchmarkRecordClickAPI: a new, billed click through HTTP and GraphQL, with
// all its effects.
func BenchmarkRecordClickAPI(b *testing.B) {
	a, tok, _ := benchApp(b)
	b.ResetTimer()
	for i := range b.N {
		benchOK(b, a.do("", benchClick, map[string]any{"t": tok, "c": fmt.Sprintf("b%d", i)}))
	}
}

// BenchmarkRecordClickDuplicateAPI: a repeated click, which finds the stored
// one and has no effects.
func BenchmarkRecordClickDuplicateAPI(b *testing.B) {
	a, tok, _ := benchApp(b)
	a.do("", benchClick, map[string]any{"t": tok, "c": "same"})
	b.ResetTimer()
	for range b.N {
		benchOK(b, a.do("", benchClick, map[string]any{"t": tok, "c": "same"}))
	}
}

// BenchmarkRecordConversionAPI: a new, billed conversion by API key.
func BenchmarkRecordConversionAPI(b *testing.B) {
	a, tok, key := benchApp(b)
	for i := range b.N {
		a.do("", benchClick, map[string]any{"t": tok, "c": fmt.Sprintf("b%d", i)})
	}
	b.ResetTimer()
	for i := range b.N {
		benchOK(b, a.doWithKey(key, benchConversion, map[string]any{"c": fmt.Sprintf("b%d", i)}))
	}
}

// BenchmarkRepositoryClickRecord: the bare exactly-once upsert, one store
// call; the denominator of the ratios.
func BenchmarkRepositoryClickRecord(b *testing.B) {
	a := mustStartApp(b)
	clicks := repository.NewClicks(a.store)
	ctx := context.Background()
	c := domain.Click{ParticipationID: primitive.NewObjectID().Hex(), CampaignID: primitive.NewObjectID().Hex(),
		StreamerID: primitive.NewObjectID().Hex(), CreatedAt: time.Now()}
	b.ResetTimer()
	for i := range b.N {
		c.ClickID = fmt.Sprintf("b%d", i)
		if _, _, err := clicks.Record(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

const benchImpression = `mutation($t: String!) { recordImpression(browserSourceToken: $t) { isNew impression { billed } } }`
const benchOverlay = `query($t: String!) { overlay(browserSourceToken: $t) { campaign { name } clickUrl slotEndsAt } }`

// BenchmarkRecordImpressionAPI: a new, billed impression in a new rotation
// slot: choosing and claiming the slot, then the impression and its effects.
func BenchmarkRecordImpressionAPI(b *testing.B) {
	a, tok, _ := benchApp(b)
	b.ResetTimer()
	for range b.N {
		a.clock.Advance(3 * time.Minute)
		benchOK(b, a.do("", benchImpression, map[string]any{"t": tok}))
	}
}

// BenchmarkRecordImpressionDuplicateAPI: a reload within the slot, which
// finds the slot's impression and has no effects.
func BenchmarkRecordImpressionDuplicateAPI(b *testing.B) {
	a, tok, _ := benchApp(b)
	a.do("", benchImpression, map[string]any{"t": tok})
	b.ResetTimer()
	for range b.N {
		benchOK(b, a.do("", benchImpression, map[string]any{"t": tok}))
	}
}

// BenchmarkOverlayAPI: the overlay page's question within a claimed slot.
func BenchmarkOverlayAPI(b *testing.B) {
	a, tok, _ := benchApp(b)
	a.do("", benchOverlay, map[string]any{"t": tok})
	b.ResetTimer()
	for range b.N {
		benchOK(b, a.do("", benchOverlay, map[string]any{"t": tok}))
	}
}

// benchOK stops the benchmark at the first GraphQL error.
func benchOK(b *testing.B, r gqlResponse) {
	if len(r.Errors) > 0 {
		b.Fatal(r.Errors)
	}
}
