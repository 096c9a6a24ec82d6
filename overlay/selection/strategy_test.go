package selection

import (
	"math"
	"slices"
	"testing"
	"time"

	"tally/domain"
)

var (
	now      = time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	joinedAt = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	defaults = domain.DefaultPriorityWeights()
	never    = time.Time{}
)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func ids(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ParticipationID
	}
	return out
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name       string
		strategy   domain.Strategy
		weights    domain.PriorityWeights
		candidates []Candidate
		want       string
	}{
		// FAIR_ROTATION
		{"FairRotation/NeverShownFirst", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "a", LastShownAt: ago(time.Hour), JoinedAt: joinedAt},
			{ParticipationID: "b", LastShownAt: never, Impressions: 500, JoinedAt: joinedAt},
		}, "b"},
		{"FairRotation/LeastRecentlyShownFirst", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "a", LastShownAt: ago(10 * time.Minute)},
			{ParticipationID: "b", LastShownAt: ago(time.Hour), Impressions: 900},
			{ParticipationID: "c", LastShownAt: ago(time.Minute)},
		}, "b"},
		{"FairRotation/SameLastShownFewestImpressions", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "a", LastShownAt: ago(time.Hour), Impressions: 10},
			{ParticipationID: "b", LastShownAt: ago(time.Hour), Impressions: 9},
		}, "b"},
		{"FairRotation/BothNeverShownFewestImpressions", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "a", Impressions: 3},
			{ParticipationID: "b", Impressions: 0},
		}, "b"},
		{"FairRotation/SameImpressionsEarliestJoined", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "a", JoinedAt: joinedAt.Add(time.Second)},
			{ParticipationID: "b", JoinedAt: joinedAt},
		}, "b"},
		{"FairRotation/AllTiedSmallestParticipationID", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "p2", JoinedAt: joinedAt},
			{ParticipationID: "p10", JoinedAt: joinedAt},
		}, "p10"},
		{"FairRotation/IgnoresPrices", domain.StrategyFairRotation, defaults, []Candidate{
			{ParticipationID: "rich", CPMMicros: 50_000_000, LastShownAt: ago(time.Minute)},
			{ParticipationID: "poor", CPMMicros: 1, LastShownAt: ago(2 * time.Minute)},
		}, "poor"},
		{"UnknownStrategyIsFairRotation", domain.Strategy("most-shiny"), defaults, []Candidate{
			{ParticipationID: "a", CPMMicros: 9_000_000, LastShownAt: ago(time.Minute)},
			{ParticipationID: "b", LastShownAt: never},
		}, "b"},
		{"EmptyStrategyIsFairRotation", "", defaults, []Candidate{
			{ParticipationID: "a", LastShownAt: ago(time.Minute)},
			{ParticipationID: "b", LastShownAt: ago(time.Hour)},
		}, "b"},

		// HIGHEST_PAYING
		{"HighestPaying/HigherCPM", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "a", CPMMicros: 2_000_000},
			{ParticipationID: "b", CPMMicros: 5_000_000},
		}, "b"},
		{"HighestPaying/CPCAtPriorCTRBeatsLowerCPM", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "cpm", CPMMicros: 5_000_000}, // 5,000 per impression
			{ParticipationID: "cpc", CPCMicros: 1_000_000}, // 1% × 1,000,000 = 10,000
		}, "cpc"},
		{"HighestPaying/GoalPayoutCountsPerConversion", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "cpm", CPMMicros: 4_000_000},          // 4,000
			{ParticipationID: "goal", GoalPayoutMicros: 10_000_000}, // 1% × 5% × 10,000,000 = 5,000
		}, "goal"},
		{"HighestPaying/SmoothingDistrustsFewImpressions", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "lucky", CPCMicros: 1_000_000, Impressions: 2, Clicks: 1},         // raw 50%, smoothed 2/102
			{ParticipationID: "proven", CPCMicros: 1_000_000, Impressions: 10_000, Clicks: 300}, // raw 3%, smoothed 301/10100
		}, "proven"},
		{"HighestPaying/TieFewerImpressions", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "a", CPMMicros: 3_000_000, Impressions: 10},
			{ParticipationID: "b", CPMMicros: 3_000_000, Impressions: 5},
		}, "b"},
		{"HighestPaying/TieEarliestJoinedThenID", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "c", CPMMicros: 3_000_000, JoinedAt: joinedAt.Add(time.Hour)},
			{ParticipationID: "b", CPMMicros: 3_000_000, JoinedAt: joinedAt},
			{ParticipationID: "a", CPMMicros: 3_000_000, JoinedAt: joinedAt.Add(time.Hour)},
		}, "b"},
		{"HighestPaying/IgnoresRecency", domain.StrategyHighestPaying, defaults, []Candidate{
			{ParticipationID: "rich", CPMMicros: 5_000_000, LastShownAt: ago(time.Second)},
			{ParticipationID: "poor", CPMMicros: 1_000_000, LastShownAt: never},
		}, "rich"},

		// PERFORMANCE
		{"Performance/NewCampaignBeatsPoorPerformer", domain.StrategyPerformance, defaults, []Candidate{
			{ParticipationID: "poor", Impressions: 1000, Clicks: 2}, // 3/1100 ≈ 0.27%
			{ParticipationID: "no-clicks", Impressions: 1000},       // 1/1100 ≈ 0.09%
			{ParticipationID: "brandnew"},                           // prior 1%
		}, "brandnew"},
		{"Performance/GoodPerformerBeatsNewCampaign", domain.StrategyPerformance, defaults, []Candidate{
			{ParticipationID: "new"},                                 // 1%
			{ParticipationID: "good", Impressions: 1000, Clicks: 50}, // 51/1100 ≈ 4.6%
		}, "good"},
		{"Performance/IgnoresPrices", domain.StrategyPerformance, defaults, []Candidate{
			{ParticipationID: "rich", CPMMicros: 90_000_000, Impressions: 1000, Clicks: 1},
			{ParticipationID: "clicky", CPMMicros: 1, Impressions: 1000, Clicks: 40},
		}, "clicky"},
		{"Performance/TieEarliestJoined", domain.StrategyPerformance, defaults, []Candidate{
			{ParticipationID: "a", Impressions: 100, Clicks: 3, JoinedAt: joinedAt.Add(time.Minute)},
			{ParticipationID: "b", Impressions: 100, Clicks: 3, JoinedAt: joinedAt},
		}, "b"},

		// WEIGHTED. The three candidates have no impressions, so performance is
		// equal (0 for all); pay normalises to a=1, b=0, c=0.5; fairness (seconds
		// since shown: a=60, c=1800, b never = 1801) normalises to a=0, c≈0.9994, b=1.
		{"Weighted/DefaultWeightsBalancePayAndFairness", domain.StrategyWeighted, defaults, weightedSet(), "c"}, // a .4, b .3, c ≈.4998
		{"Weighted/PaymentHeavyPicksBestPayer", domain.StrategyWeighted, domain.PriorityWeights{PaymentRate: 0.8, Fairness: 0.2}, weightedSet(), "a"},
		{"Weighted/FairnessOnlyPicksNeverShown", domain.StrategyWeighted, domain.PriorityWeights{Fairness: 1}, weightedSet(), "b"},
		{"Weighted/PaymentOnlyMatchesHighestPaying", domain.StrategyWeighted, domain.PriorityWeights{PaymentRate: 1}, weightedSet(), "a"},
		{"Weighted/PerformanceOnlyMatchesPerformance", domain.StrategyWeighted, domain.PriorityWeights{Performance: 1}, []Candidate{
			{ParticipationID: "a", Impressions: 1000, Clicks: 5, CPMMicros: 9_000_000},
			{ParticipationID: "b", Impressions: 1000, Clicks: 30},
		}, "b"},
		{"Weighted/ZeroWeightsUseDefaults", domain.StrategyWeighted, domain.PriorityWeights{}, weightedSet(), "c"},
		{"Weighted/NegativeWeightsUseDefaults", domain.StrategyWeighted, domain.PriorityWeights{PaymentRate: -1, Fairness: 2}, weightedSet(), "c"},
		{"Weighted/NaNWeightsUseDefaults", domain.StrategyWeighted, domain.PriorityWeights{PaymentRate: math.NaN(), Fairness: 1}, weightedSet(), "c"},
		{"Weighted/AllFactorsEqualFallsToTieBreaks", domain.StrategyWeighted, defaults, []Candidate{
			{ParticipationID: "a", CPMMicros: 1_000_000, LastShownAt: ago(time.Minute), JoinedAt: joinedAt.Add(time.Hour)},
			{ParticipationID: "b", CPMMicros: 1_000_000, LastShownAt: ago(time.Minute), JoinedAt: joinedAt},
		}, "b"},
		{"Weighted/ShownInTheFutureCountsAsJustShown", domain.StrategyWeighted, domain.PriorityWeights{Fairness: 1}, []Candidate{
			{ParticipationID: "skewed", LastShownAt: now.Add(time.Hour)},
			{ParticipationID: "recent", LastShownAt: ago(time.Second)},
		}, "recent"},
		{"Weighted/AllNeverShownFairnessIsNeutral", domain.StrategyWeighted, domain.PriorityWeights{PaymentRate: 0.1, Fairness: 0.9}, []Candidate{
			{ParticipationID: "a", CPMMicros: 1_000_000},
			{ParticipationID: "b", CPMMicros: 2_000_000},
		}, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Choose(tc.strategy, tc.weights, now, tc.candidates)
			if !ok {
				t.Fatal("Choose returned false for a non-empty list")
			}
			if got.ParticipationID != tc.want {
				t.Errorf("Choose = %q, want %q (rank %v)", got.ParticipationID, tc.want,
					ids(Rank(tc.strategy, tc.weights, now, tc.candidates)))
			}
		})
	}
}

func weightedSet() []Candidate {
	return []Candidate{
		{ParticipationID: "a", CPMMicros: 10_000_000, LastShownAt: ago(time.Minute)},
		{ParticipationID: "b", CPMMicros: 2_000_000, LastShownAt: never},
		{ParticipationID: "c", CPMMicros: 6_000_000, LastShownAt: ago(30 * time.Minute)},
	}
}

var allStrategies = append(slices.Clone(domain.Strategies), "unknown")

func TestChooseEmptyList(t *testing.T) {
	for _, s := range allStrategies {
		t.Run(s.Name(), func(t *testing.T) {
			for _, cs := range [][]Candidate{nil, {}} {
				if got, ok := Choose(s, defaults, now, cs); ok || got != (Candidate{}) {
					t.Errorf("Choose(%v) = %+v, %v; want zero, false", cs, got, ok)
				}
			}
			if got := Rank(s, defaults, now, nil); len(got) != 0 {
				t.Errorf("Rank(nil) = %v", got)
			}
		})
	}
}

func TestChooseSingleCandidate(t *testing.T) {
	only := Candidate{ParticipationID: "only", CampaignID: "c1", JoinedAt: joinedAt, LastShownAt: ago(time.Minute),
		Impressions: 7, Clicks: 1, Conversions: 1, CPMMicros: 1, CPCMicros: 2, GoalPayoutMicros: 3}
	for _, s := range allStrategies {
		t.Run(s.Name(), func(t *testing.T) {
			got, ok := Choose(s, defaults, now, []Candidate{only})
			if !ok || got != only {
				t.Errorf("Choose = %+v, %v; want the only candidate", got, ok)
			}
		})
	}
}

// A realistic mix with ties at several levels; the ranking must not depend on
// the order in which candidates are given, and the input must stay untouched.
func TestRankIsIndependentOfInputOrder(t *testing.T) {
	mix := []Candidate{
		{ParticipationID: "a", CPMMicros: 3_000_000, Impressions: 100, Clicks: 2, LastShownAt: ago(time.Hour), JoinedAt: joinedAt},
		{ParticipationID: "b", CPMMicros: 3_000_000, Impressions: 100, Clicks: 2, LastShownAt: ago(time.Hour), JoinedAt: joinedAt},
		{ParticipationID: "c", CPMMicros: 3_000_000, Impressions: 50, Clicks: 1, LastShownAt: ago(time.Hour), JoinedAt: joinedAt},
		{ParticipationID: "d", CPCMicros: 300_000, Impressions: 0, JoinedAt: joinedAt.Add(time.Hour)},
		{ParticipationID: "e", CPCMicros: 300_000, Impressions: 0, JoinedAt: joinedAt},
		{ParticipationID: "f", GoalPayoutMicros: 20_000_000, Impressions: 400, Clicks: 9, Conversions: 2, LastShownAt: ago(5 * time.Minute)},
	}
	for _, s := range allStrategies {
		t.Run(s.Name(), func(t *testing.T) {
			want := ids(Rank(s, defaults, now, mix))
			perm := slices.Clone(mix)
			for i := range 50 {
				// A deterministic shuffle: rotate, and reverse every other round.
				perm = append(perm[i%len(perm):], perm[:i%len(perm)]...)
				if i%2 == 1 {
					slices.Reverse(perm)
				}
				before := slices.Clone(perm)
				if got := ids(Rank(s, defaults, now, perm)); !slices.Equal(got, want) {
					t.Fatalf("order %v ranked %v, want %v", ids(perm), got, want)
				}
				if !slices.Equal(perm, before) {
					t.Fatal("Rank modified its input")
				}
			}
		})
	}
}

func TestSmoothedRates(t *testing.T) {
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"CTRNewCampaignIsPrior", SmoothedCTR(Candidate{}), 0.01},
		{"CTRPriorWorthOneHundredImpressions", SmoothedCTR(Candidate{Impressions: 100, Clicks: 3}), 4.0 / 200},
		{"CTRManyImpressionsApproachesRaw", SmoothedCTR(Candidate{Impressions: 999_900, Clicks: 49_999}), 50_000.0 / 1_000_000},
		{"CTRAboveOneIsCapped", SmoothedCTR(Candidate{Impressions: 0, Clicks: 500}), 1},
		{"CTRNegativeCountsAreZero", SmoothedCTR(Candidate{Impressions: -5, Clicks: -5}), 0.01},
		{"CVRNewCampaignIsPrior", SmoothedCVR(Candidate{}), 0.05},
		{"CVRPriorWorthTwentyClicks", SmoothedCVR(Candidate{Clicks: 20, Conversions: 3}), 4.0 / 40},
		{"CVRAboveOneIsCapped", SmoothedCVR(Candidate{Clicks: 0, Conversions: 100}), 1},
		{"PayoutCPMOnly", ExpectedPayout(Candidate{CPMMicros: 2_500_000}), 2_500},
		{"PayoutCPCAtPrior", ExpectedPayout(Candidate{CPCMicros: 1_000_000}), 10_000},
		{"PayoutGoalAtPrior", ExpectedPayout(Candidate{GoalPayoutMicros: 10_000_000}), 5_000},
		{"PayoutAllParts", ExpectedPayout(Candidate{
			CPMMicros: 1_000_000, CPCMicros: 500_000, GoalPayoutMicros: 4_000_000,
			Impressions: 100, Clicks: 3, Conversions: 1, // CTR 4/200 = 0.02, CVR 2/23
		}), 1_000 + 0.02*(500_000+2.0/23*4_000_000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-9*math.Max(1, math.Abs(tc.want)) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestScoreComparison(t *testing.T) {
	t.Run("NearlyEqual", func(t *testing.T) {
		tests := []struct {
			a, b float64
			want bool
		}{
			{0, 0, true},
			{1, 1 + 1e-15, true},
			{0.1 + 0.2, 0.3, true},
			{1e9, 1e9 + 1e-4, true},
			{1, 1 + 1e-9, false},
			{0, 1e-300, false},
			{-1, 1, false},
		}
		for _, tc := range tests {
			if got := nearlyEqual(tc.a, tc.b); got != tc.want {
				t.Errorf("nearlyEqual(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		}
	})
	t.Run("RoundingNoiseFallsToTieBreaks", func(t *testing.T) {
		cs := []Candidate{
			{ParticipationID: "noisy-higher", Impressions: 10},
			{ParticipationID: "fewer-impressions", Impressions: 1},
			{ParticipationID: "lower", Impressions: 0},
		}
		rankByScore(cs, []float64{0.3, 0.1 + 0.2, 0.29})
		if got, want := ids(cs), []string{"fewer-impressions", "noisy-higher", "lower"}; !slices.Equal(got, want) {
			t.Errorf("rank = %v, want %v", got, want)
		}
	})
	t.Run("GroupsAreMeasuredFromTheirBestScore", func(t *testing.T) {
		// b is within epsilon of a and of c, but c is not within epsilon of a:
		// the group is {a, b}, then {c}, whatever the tie-breaks say.
		const x = 1.0
		cs := []Candidate{
			{ParticipationID: "a", Impressions: 5},
			{ParticipationID: "b", Impressions: 3},
			{ParticipationID: "c", Impressions: 0},
		}
		rankByScore(cs, []float64{x, x - 0.8e-12, x - 1.6e-12})
		if got, want := ids(cs), []string{"b", "a", "c"}; !slices.Equal(got, want) {
			t.Errorf("rank = %v, want %v", got, want)
		}
	})
}

// TestChooseSkipsCapped: every strategy skips a capped candidate, even the
// one it would rank first; with every candidate capped there is no choice.
func TestChooseSkipsCapped(t *testing.T) {
	best := Candidate{ParticipationID: "best", LastShownAt: never, CPCMicros: 9_000_000, Impressions: 100, Clicks: 50, JoinedAt: joinedAt, Capped: true}
	other := Candidate{ParticipationID: "other", LastShownAt: ago(time.Minute), CPCMicros: 1, JoinedAt: joinedAt}
	for _, s := range []domain.Strategy{domain.StrategyFairRotation, domain.StrategyHighestPaying, domain.StrategyPerformance, domain.StrategyWeighted} {
		if got, ok := Choose(s, defaults, now, []Candidate{best, other}); !ok || got.ParticipationID != "other" {
			t.Errorf("%s: chose %q (%v), want other", s, got.ParticipationID, ok)
		}
		other.Capped = true
		if got, ok := Choose(s, defaults, now, []Candidate{best, other}); ok {
			t.Errorf("%s: every candidate capped, chose %q", s, got.ParticipationID)
		}
		other.Capped = false
	}
}
