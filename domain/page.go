package domain

import "time"

import "encoding/base64"

// Page is one page of a list, newest first.
type Page[T any] struct {
	Items       []T
	Cursors     []string // Cursors[i] is the cursor of Items[i]
	HasNextPage bool
}

// PageArgs are a connection's first/after.
type PageArgs struct {
	First int
	After string
}

// Page sizes: the default when first is not given, and the most one page may
// hold.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Validate checks first and after, naming the argument at fault
// (BAD_USER_INPUT).
func (p PageArgs) Validate() error {
	if p.First < 0 || p.First > MaxPageSize {
		return Invalid("first", "first must be between 0 and %d", MaxPageSize)
	}
	if p.After != "" {
		if _, err := ParseCursor(p.After); err != nil {
			return err
		}
	}
	return nil
}

// A Cursor is opaque to clients: a document's 12-byte id, base64url-encoded.
// The repository reads pages in descending id order with `id < after`, so
// documents inserted while a client pages through (which get larger ids)
// never shift or repeat the rows of later pages.
type Cursor [12]byte

// String is the cursor as clients see it.
func (c Cursor) String() string { return base64.RawURLEncoding.EncodeToString(c[:]) }

// ParseCursor reads a cursor this API returned; BAD_USER_INPUT on "after"
// for anything else.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(c) {
		return c, Invalid("after", "after is not a cursor this API returned")
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
