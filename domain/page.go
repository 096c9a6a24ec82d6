package domain

import (
	"encoding/base64"
	"time"
	"unicode"
)

// Page is one page of a list, newest first, as a Relay connection shows it.
type Page[T any] struct {
	Items           []T
	Cursors         []string // Cursors[i] is the cursor of Items[i]
	HasNextPage     bool     // older items follow the page (within before, if given)
	HasPreviousPage bool     // newer items precede the page (within after, if given)
	TotalCount      int      // every item of the list, whatever the page; set only when PageArgs.Total
}

// PageArgs are a connection's arguments: first/after pages forward (older
// items), last/before backward (newer items). Zero First and Last mean "not
// given": the page then holds DefaultPageSize items, forward, or backward when
// only before is given. After and before may be given together: the page is
// read from the items strictly between them.
type PageArgs struct {
	First  int
	After  string
	Last   int
	Before string
	// Total asks for TotalCount, which costs a count of the whole list: set
	// it only when the client selected it.
	Total bool
}

// Page sizes: the default when neither first nor last is given, and the most
// one page may hold.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Validate checks the page arguments, naming the argument at fault
// (BAD_USER_INPUT): first and last each between 0 and MaxPageSize and not
// both given, after and before cursors this API returned.
func (p PageArgs) Validate() error {
	if p.First < 0 || p.First > MaxPageSize {
		return Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if p.Last < 0 || p.Last > MaxPageSize {
		return Invalid("last", "last must be between 0 and %d", MaxPageSize)
	}
	if p.First > 0 && p.Last > 0 {
		return Invalid("last", "give first (forward) or last (backward), not both")
	}
	if _, err := parseCursor("after", p.After); err != nil {
		return err
	}
	if _, err := parseCursor("before", p.Before); err != nil {
		return err
	}
	return nil
}

// Backward reports whether the page is read from its end: last is given, or
// only before.
func (p PageArgs) Backward() bool {
	return p.Last > 0 || (p.First == 0 && p.Before != "")
}

// Size is how many items the page holds at most.
func (p PageArgs) Size() int {
	switch {
	case p.First > 0:
		return p.First
	case p.Last > 0:
		return p.Last
	}
	return DefaultPageSize
}

// Cursors returns the parsed after and before cursors; ok reports each one
// given. Call it after Validate.
func (p PageArgs) Cursors() (after Cursor, hasAfter bool, before Cursor, hasBefore bool) {
	after, _ = parseCursor("after", p.After)
	before, _ = parseCursor("before", p.Before)
	return after, p.After != "", before, p.Before != ""
}

// A Cursor is opaque to clients: a document's 12-byte id, base64url-encoded.
// The repository reads pages in descending id order with `id < after` (and
// `id > before`), so documents inserted while a client pages through (which
// get larger ids) never shift or repeat the rows of later pages.
type Cursor [12]byte

// String is the cursor as clients see it.
func (c Cursor) String() string { return base64.RawURLEncoding.EncodeToString(c[:]) }

// parseCursor reads the cursor s given as the argument field; the empty
// string is no cursor (the zero Cursor, no error).
func parseCursor(field, s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, Invalid(field, "%s is not a cursor this API returned", field)
	}
	copy(c[:], b)
	return c, nil
}

// CampaignFilter narrows a campaign list; empty fields do not filter.
type CampaignFilter struct {
	Status  CampaignStatus
	BrandID string
	Search  string
}

// The bounds of a campaign search: its bytes, and its words (runs of letters
// and digits, each matched as a word or the start of one). A campaign name
// has at most 120 characters; each word of a search is one more condition
// for the store, so a search is bounded like the rest of a request.
const (
	MaxSearchBytes = 200
	MaxSearchWords = 10
)

// Validate checks the filter, naming the field at fault (BAD_USER_INPUT on
// prefix.search): a search of at most MaxSearchBytes bytes and
// MaxSearchWords words.
func (f CampaignFilter) Validate(prefix string) error {
	if len(f.Search) > MaxSearchBytes {
		return Invalid(prefix+".search", "search may hold at most %d bytes; this one holds %d", MaxSearchBytes, len(f.Search))
	}
	words, inWord := 0, false
	for _, r := range f.Search {
		letter := unicode.IsLetter(r) || unicode.IsDigit(r)
		if letter && !inWord {
			words++
		}
		inWord = letter
	}
	if words > MaxSearchWords {
		return Invalid(prefix+".search", "search may hold at most %d words; this one holds %d", MaxSearchWords, words)
	}
	return nil
}

// ConversionFilter narrows a conversion list; empty fields do not filter.
type ConversionFilter struct {
	CampaignID      string
	ParticipationID string
	StreamerID      string
	GoalID          string
	Status          ConversionStatus
	Subs            SubIDs     // each given sub-id must match
	From, To        *time.Time // recorded in [From, To)
}
