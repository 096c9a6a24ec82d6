// Package selection holds the pure, deterministic rules by which a streamer's
// overlay chooses a campaign: whether a blackout period is in force, which
// rotation slot an instant belongs to, and how each selection strategy ranks
// the eligible candidates.
//
// Nothing here reads a clock, a store or the network: the current time and
// every fact about a candidate are passed in, so the same inputs always give
// the same answer. Which campaigns are eligible (active, within budget, joined
// by the streamer) is decided by the caller before ranking.
//
// The formulas and their constants are written out in docs/selection.md.
package selection
