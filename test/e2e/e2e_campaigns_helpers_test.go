package e2e

import (
	"testing"
)

const campaignFields = `id name description status landingUrl postbackUrl
  budget { amount currency } spent { amount currency } remaining { amount currency }
  cpm { amount } cpc { amount } goals { goalId name payout { amount currency } }
  startsAt endsAt stats { impressions clicks conversions } brand { id displayName } createdAt updatedAt`

type campaignData struct {
	ID, Name, Description, Status, LandingURL string
	PostbackURL                               *string
	Budget, Spent, Remaining                  struct{ Amount, Currency string }
	CPM, CPC                                  struct{ Amount string }
	Goals                                     []struct {
		GoalID, Name string
		Payout       struct{ Amount, Currency string }
	}
	StartsAt, EndsAt *string
	Stats            struct{ Impressions, Clicks, Conversions int }
	Brand            struct{ ID, DisplayName string }
}

const createCampaignMutation = `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { ` + campaignFields + ` } }`
const updateCampaignMutation = `mutation($id: ID!, $input: UpdateCampaignInput!) { updateCampaign(id: $id, input: $input) { ` + campaignFields + ` } }`

func campaignInput(name string) map[string]any {
	return map[string]any{
		"name": name, "description": "A campaign", "landingUrl": "https://shop.example.com/offer?click={click_id}",
		"budget": "100.00", "cpm": "2.50", "cpc": "0.25",
		"goals":       []any{map[string]any{"goalId": "signup", "name": "Sign-up", "payout": "1.50"}},
		"postbackUrl": "https://partner.example.com/pb?cid={click_id}",
	}
}

// mustCreateCampaign creates a DRAFT campaign for brand.
func (a *testApp) mustCreateCampaign(brand testUser, input map[string]any) campaignData {
	a.t.Helper()
	var data struct{ CreateCampaign campaignData }
	a.mustDo(brand.Token, createCampaignMutation, map[string]any{"input": input}, &data)
	return data.CreateCampaign
}

// mustSetStatus moves a campaign to status as brand (or admin).
func (a *testApp) mustSetStatus(who testUser, id, status string) campaignData {
	a.t.Helper()
	var data struct{ UpdateCampaign campaignData }
	a.mustDo(who.Token, updateCampaignMutation, map[string]any{"id": id, "input": map[string]any{"status": status}}, &data)
	return data.UpdateCampaign
}

// mustActiveCampaign creates and activates a campaign.
func (a *testApp) mustActiveCampaign(brand testUser, name string) campaignData {
	a.t.Helper()
	c := a.mustCreateCampaign(brand, campaignInput(name))
	return a.mustSetStatus(brand, c.ID, "ACTIVE")
}

const participationFields = `id status browserSourceToken overlayUrl joinedAt leftAt
  stats { impressions clicks conversions earnings { amount currency } }
  campaign { id name } streamer { id }`

type participationData struct {
	ID, Status, JoinedAt string
	BrowserSourceToken   *string
	OverlayURL           *string
	LeftAt               *string
	Stats                struct {
		Impressions, Clicks, Conversions int
		Earnings                         struct{ Amount, Currency string }
	}
	Campaign struct{ ID, Name string }
	Streamer struct{ ID string }
}

const joinMutation = `mutation($id: ID!) { joinCampaign(campaignId: $id) { ` + participationFields + ` } }`

// mustJoin joins a campaign as streamer.
func (a *testApp) mustJoin(streamer testUser, campaignID string) participationData {
	a.t.Helper()
	var data struct{ JoinCampaign participationData }
	a.mustDo(streamer.Token, joinMutation, map[string]any{"id": campaignID}, &data)
	return data.JoinCampaign
}

func token(t testing.TB, p participationData) string {
	t.Helper()
	if p.BrowserSourceToken == nil {
		t.Fatalf("participation %s has no token", p.ID)
	}
	return *p.BrowserSourceToken
}
