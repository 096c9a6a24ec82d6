package e2e

import "time"

const overlayQuery = `query($t: String!) { overlay(browserSourceToken: $t) {
  campaign { id name } participation { id } clickUrl slotStartsAt slotEndsAt strategy } }`

type overlaySlotData struct {
	Campaign      struct{ ID, Name string }
	Participation struct{ ID string }
	ClickURL      string
	SlotStartsAt  time.Time
	SlotEndsAt    time.Time
	Strategy      string
}

// overlay asks what the overlay of tok shows now; nil is nothing.
func (a *testApp) overlay(tok string) *overlaySlotData {
	a.t.Helper()
	var d struct{ Overlay *overlaySlotData }
	a.mustDo("", overlayQuery, map[string]any{"t": tok}, &d)
	return d.Overlay
}

// mustShow asks for the overlay of tok and fails unless it shows something.
func (a *testApp) mustShow(tok string) overlaySlotData {
	a.t.Helper()
	s := a.overlay(tok)
	if s == nil {
		a.t.Fatalf("overlay shows nothing at %s", a.clock.Now().Format(time.RFC3339))
	}
	return *s
}

const recordImpressionMutation = `mutation($t: String!) { recordImpression(browserSourceToken: $t) {
  isNew campaign { id } impression { id billing billed slotStartsAt campaign { id } participation { id } } } }`

type impressionPayload struct {
	IsNew      bool
	Campaign   *struct{ ID string }
	Impression *struct {
		ID            string
		Billing       string
		Billed        bool
		SlotStartsAt  time.Time
		Campaign      struct{ ID string }
		Participation struct{ ID string }
	}
}

func (a *testApp) mustImpression(tok string) impressionPayload {
	a.t.Helper()
	var d struct{ RecordImpression impressionPayload }
	a.mustDo("", recordImpressionMutation, map[string]any{"t": tok}, &d)
	return d.RecordImpression
}

const settingsMutation = `mutation($input: UpdateCampaignSelectionSettingsInput!) {
  updateCampaignSelectionSettings(input: $input) { id } }`

// mustSettings updates a streamer's selection settings.
func (a *testApp) mustSettings(who testUser, input map[string]any) {
	a.t.Helper()
	a.mustDo(who.Token, settingsMutation, map[string]any{"input": input}, nil)
}

// mustPricedCampaign creates and activates a campaign whose fields differ
// from campaignInput's by changes.
func (a *testApp) mustPricedCampaign(brand testUser, name string, changes map[string]any) campaignData {
	a.t.Helper()
	in := campaignInput(name)
	for k, v := range changes {
		in[k] = v
	}
	c := a.mustCreateCampaign(brand, in)
	return a.mustSetStatus(brand, c.ID, "ACTIVE")
}

// streamerIn is a streamer joined to each of the campaigns, with the token
// of each participation by campaign id and the participation ids.
type streamerIn struct {
	user   testUser
	tokens map[string]string // campaign id → token
	parts  map[string]string // participation id → campaign id
}

func (a *testApp) mustStreamerIn(campaigns ...campaignData) streamerIn {
	a.t.Helper()
	s := streamerIn{user: a.mustSignUp("STREAMER"), tokens: map[string]string{}, parts: map[string]string{}}
	for _, c := range campaigns {
		p := a.mustJoin(s.user, c.ID)
		s.tokens[c.ID] = token(a.t, p)
		s.parts[p.ID] = c.ID
	}
	return s
}

// token returns the streamer's token of their participation in a campaign.
func (s streamerIn) token(campaignID string) string { return s.tokens[campaignID] }
