package selection

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"tally/domain"
)

// Smoothing priors. A rate estimated from few events is pulled toward its
// prior as if the prior had been observed over a fixed number of trials, so a
// new campaign scores the prior (neither starved nor favoured) and a handful
// of lucky clicks cannot put a campaign on top.
const (
	// PriorCTR is the click-through rate assumed before any impression (1%).
	PriorCTR = 0.01
	// PriorCTRImpressions is how many impressions the CTR prior is worth
	// (100, i.e. one pseudo-click).
	PriorCTRImpressions = 100.0
	// PriorCVR is the conversions-per-click rate assumed before any click (5%).
	PriorCVR = 0.05
	// PriorCVRClicks is how many clicks the CVR prior is worth (20, i.e. one
	// pseudo-conversion).
	PriorCVRClicks = 20.0
)

// scoreEpsilon is the relative difference below which two scores are equal
// and the deterministic tie-breaks decide.
const scoreEpsilon = 1e-12

// Candidate is one eligible participation (a streamer in a campaign) with the
// facts the strategies rank on. Money is in micro-units (1 unit = 1,000,000).
type Candidate struct {
	ParticipationID  string
	CampaignID       string
	JoinedAt         time.Time
	LastShownAt      time.Time // zero: never shown
	Impressions      int64     // this participation's impressions
	Clicks           int64
	Conversions      int64
	CPMMicros        int64 // price per 1000 impressions
	CPCMicros        int64 // price per click
	GoalPayoutMicros int64 // mean payout of the campaign's goals (0 if none)
	// Capped: a cap (the campaign's daily budget, the streamer's total or
	// daily cap) leaves no room for one more event; every strategy skips it.
	Capped bool
}

// Choose returns the candidate the strategy ranks first among those not
// Capped, and false when there is none. It is Rank(…)[0] of the candidates
// not capped; see Rank for the rules.
func Choose(strategy domain.Strategy, weights domain.PriorityWeights, now time.Time, candidates []Candidate) (Candidate, bool) {
	open := slices.DeleteFunc(slices.Clone(candidates), func(c Candidate) bool { return c.Capped })
	if len(open) == 0 {
		return Candidate{}, false
	}
	return Rank(strategy, weights, now, open)[0], true
}

// Rank returns a copy of candidates ordered best first by the strategy; the
// input is not modified. A caller that cannot use the first candidate (for
// example because its budget ran out in the meantime) can try the next.
//
//   - FAIR_ROTATION (and any unknown strategy): least recently shown first,
//     never shown counting as oldest.
//   - HIGHEST_PAYING: highest ExpectedPayout.
//   - PERFORMANCE: highest SmoothedCTR.
//   - WEIGHTED: highest weights.PaymentRate·pay + weights.Performance·perf +
//     weights.Fairness·fair, each factor min-max normalised across the
//     candidates to [0,1] (a factor equal for every candidate is 0 for all).
//     pay is ExpectedPayout, perf is SmoothedCTR, fair is the seconds from
//     LastShownAt to now (0 if LastShownAt is after now; never shown counts as
//     the largest value among the shown candidates plus one second). Weights
//     that are negative, not finite, or all zero are replaced by
//     domain.DefaultPriorityWeights.
//
// now is used only by WEIGHTED. Scores within a relative 1e-12 of the best of
// their group are equal. Ties, in every strategy, go to fewer impressions,
// then earlier JoinedAt, then the smaller ParticipationID; the order is
// therefore independent of the order of the input.
func Rank(strategy domain.Strategy, weights domain.PriorityWeights, now time.Time, candidates []Candidate) []Candidate {
	out := slices.Clone(candidates)
	if len(out) < 2 {
		return out
	}
	var scores []float64
	switch strategy {
	case domain.StrategyHighestPaying:
		scores = mapScores(out, ExpectedPayout)
	case domain.StrategyPerformance:
		scores = mapScores(out, SmoothedCTR)
	case domain.StrategyWeighted:
		scores = weightedScores(weights, now, out)
	default:
		slices.SortStableFunc(out, compareFair)
		return out
	}
	rankByScore(out, scores)
	return out
}

// SmoothedCTR is the click-through rate with an additive (Beta) prior:
// (clicks + PriorCTRImpressions·PriorCTR) / (impressions + PriorCTRImpressions),
// at most 1. Negative counts count as 0.
func SmoothedCTR(c Candidate) float64 {
	return smoothedRate(c.Clicks, c.Impressions, PriorCTR, PriorCTRImpressions)
}

// SmoothedCVR is the conversions-per-click rate with an additive (Beta) prior:
// (conversions + PriorCVRClicks·PriorCVR) / (clicks + PriorCVRClicks), at most
// 1. Negative counts count as 0.
func SmoothedCVR(c Candidate) float64 {
	return smoothedRate(c.Conversions, c.Clicks, PriorCVR, PriorCVRClicks)
}

// ExpectedPayout is the expected payout of one impression in micros, a score
// for ranking and not an amount of money:
//
//	CPM/1000 + CTR·(CPC + CVR·GoalPayout)
//
// with CTR = SmoothedCTR and CVR = SmoothedCVR (conversions per click, so
// CTR·CVR is conversions per impression).
func ExpectedPayout(c Candidate) float64 {
	ctr, cvr := SmoothedCTR(c), SmoothedCVR(c)
	return float64(c.CPMMicros)/1000 + ctr*(float64(c.CPCMicros)+cvr*float64(c.GoalPayoutMicros))
}

func smoothedRate(successes, trials int64, prior, weight float64) float64 {
	s := float64(max(successes, 0))
	n := float64(max(trials, 0))
	// Successes can exceed trials in real data (a click on a shared link with
	// no impression, a postback conversion without a tracked click); a rate
	// above 1 means nothing, so it is capped.
	return min((s+weight*prior)/(n+weight), 1)
}

func mapScores(cs []Candidate, score func(Candidate) float64) []float64 {
	out := make([]float64, len(cs))
	for i, c := range cs {
		out[i] = score(c)
	}
	return out
}

func weightedScores(w domain.PriorityWeights, now time.Time, cs []Candidate) []float64 {
	w = effectiveWeights(w)
	pay := normalize(mapScores(cs, ExpectedPayout))
	perf := normalize(mapScores(cs, SmoothedCTR))
	fair := normalize(fairness(now, cs))
	out := make([]float64, len(cs))
	for i := range cs {
		out[i] = w.PaymentRate*pay[i] + w.Performance*perf[i] + w.Fairness*fair[i]
	}
	return out
}

// effectiveWeights returns w, or the defaults when w cannot be used (a
// document written before the weights existed decodes as all zeros).
func effectiveWeights(w domain.PriorityWeights) domain.PriorityWeights {
	ok := true
	for _, x := range []float64{w.PaymentRate, w.Performance, w.Fairness} {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			ok = false
		}
	}
	if !ok || w.PaymentRate+w.Performance+w.Fairness <= 0 {
		return domain.DefaultPriorityWeights()
	}
	return w
}

// fairness is the seconds since each candidate was last shown; never shown is
// one second more than the longest wait among the shown candidates.
func fairness(now time.Time, cs []Candidate) []float64 {
	out := make([]float64, len(cs))
	longest := 0.0
	for i, c := range cs {
		if c.LastShownAt.IsZero() {
			continue
		}
		out[i] = max(now.Sub(c.LastShownAt).Seconds(), 0)
		longest = max(longest, out[i])
	}
	for i, c := range cs {
		if c.LastShownAt.IsZero() {
			out[i] = longest + 1
		}
	}
	return out
}

// normalize maps xs linearly onto [0,1] in place (min → 0, max → 1). When all
// values are equal (within scoreEpsilon) every value becomes 0: the factor
// does not distinguish the candidates, so it adds nothing to any score.
func normalize(xs []float64) []float64 {
	lo, hi := slices.Min(xs), slices.Max(xs)
	if nearlyEqual(lo, hi) {
		clear(xs)
		return xs
	}
	for i, x := range xs {
		xs[i] = (x - lo) / (hi - lo)
	}
	return xs
}

// rankByScore orders cs by score, highest first. Candidates are sorted by
// exact score, then split into groups whose scores lie within scoreEpsilon of
// the group's highest; within a group the tie-breaks decide. Grouping against
// the group's first score (rather than comparing neighbours with an epsilon
// inside the sort) keeps the comparison transitive and the result independent
// of input order.
func rankByScore(cs []Candidate, scores []float64) {
	type scored struct {
		c Candidate
		s float64
	}
	items := make([]scored, len(cs))
	for i := range cs {
		items[i] = scored{cs[i], scores[i]}
	}
	slices.SortStableFunc(items, func(a, b scored) int {
		if c := cmp.Compare(b.s, a.s); c != 0 {
			return c
		}
		return compareTie(a.c, b.c)
	})
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && nearlyEqual(items[i].s, items[j].s) {
			j++
		}
		slices.SortStableFunc(items[i:j], func(a, b scored) int { return compareTie(a.c, b.c) })
		i = j
	}
	for i := range items {
		cs[i] = items[i].c
	}
}

// compareFair orders least recently shown first, never shown before any.
func compareFair(a, b Candidate) int {
	if az, bz := a.LastShownAt.IsZero(), b.LastShownAt.IsZero(); az != bz {
		if az {
			return -1
		}
		return 1
	}
	if c := a.LastShownAt.Compare(b.LastShownAt); c != 0 {
		return c
	}
	return compareTie(a, b)
}

// compareTie is the tie-break shared by every strategy: fewer impressions,
// then earlier JoinedAt, then the smaller ParticipationID.
func compareTie(a, b Candidate) int {
	if c := cmp.Compare(a.Impressions, b.Impressions); c != 0 {
		return c
	}
	if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ParticipationID, b.ParticipationID)
}

// nearlyEqual reports whether a and b differ by at most scoreEpsilon relative
// to the larger magnitude.
func nearlyEqual(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= scoreEpsilon*max(math.Abs(a), math.Abs(b))
}
