package domain

import (
	"io"
	"strings"
	"time"
)

// ParticipationStatus says whether a streamer is still in a campaign.
type ParticipationStatus string

const (
	ParticipationActive ParticipationStatus = "active"
	ParticipationLeft   ParticipationStatus = "left"
)

// ParseParticipationStatus accepts the stored form or the GraphQL name;
// anything unknown (old documents) counts as active.
func ParseParticipationStatus(s string) ParticipationStatus {
	if ParticipationStatus(strings.ToLower(s)) == ParticipationLeft {
		return ParticipationLeft
	}
	return ParticipationActive
}

// MarshalGQL writes the GraphQL enum name.
func (s ParticipationStatus) MarshalGQL(w io.Writer) { marshalEnum(w, s) }

// UnmarshalGQL reads the GraphQL enum name.
func (s *ParticipationStatus) UnmarshalGQL(v any) (err error) {
	*s, err = unmarshalEnum(v, "ParticipationStatus", ParticipationActive, ParticipationLeft)
	return err
}

// ParticipationStats are a participation's counters and the streamer's
// earnings from it.
type ParticipationStats struct {
	Impressions   int64
	Clicks        int64 // valid clicks
	InvalidClicks int64 // invalid traffic: counted apart, never billed
	Conversions   int64
	NotBilled     NotBilledCounts // priced events a money rule refused, by reason
	Earnings      Micros
}

// Participation is one streamer in one campaign. Its BrowserSourceToken is the
// secret in the overlay URL; it is empty for old participations that never had
// one and after the streamer leaves.
type Participation struct {
	ID                 string
	CampaignID         string
	StreamerID         string
	Status             ParticipationStatus
	BrowserSourceToken string
	Stats              ParticipationStats
	// Caps are what the brand lets the streamer spend of the campaign, in
	// total and per day of the campaign's time zone (nil: no cap).
	Caps     ParticipationCaps
	JoinedAt time.Time
	LeftAt   *time.Time
	// LastShownAt is the start of the last rotation slot that chose this
	// participation; zero if never.
	LastShownAt time.Time
}
