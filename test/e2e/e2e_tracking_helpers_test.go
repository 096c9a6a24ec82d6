package e2e

import (
	"context"

	"tally/domain"
	"tally/repository"
)

const recordClickMutation = `mutation($input: RecordClickInput!) { recordClick(input: $input) {
  isNew click { id clickId billing billed invalidReason subIds { sub1 } createdAt participation { id } campaign { id } } } }`

type clickPayload struct {
	RecordClick struct {
		IsNew bool
		Click struct {
			ID, ClickID, CreatedAt string
			Billing, InvalidReason string
			Billed                 bool
			SubIds                 struct{ Sub1 *string }
			Participation          struct{ ID string }
			Campaign               struct{ ID string }
		}
	}
}

const recordConversionMutation = `mutation($input: RecordConversionInput!) { recordConversion(input: $input) {
  isNew conversion { id clickId goalId externalId status billing billed payout { amount currency } campaign { id } participation { id } createdAt } } }`

type conversionPayload struct {
	RecordConversion struct {
		IsNew      bool
		Conversion struct {
			ID, ClickID, GoalID, Status, CreatedAt string
			Billing                                string
			ExternalID                             *string
			Billed                                 bool
			Payout                                 struct{ Amount, Currency string }
			Campaign, Participation                struct{ ID string }
		}
	}
}

// mustClick records a click through GraphQL with the overlay token.
func (a *testApp) mustClick(token, clickID string) clickPayload {
	a.t.Helper()
	in := map[string]any{"browserSourceToken": token}
	if clickID != "" {
		in["clickId"] = clickID
	}
	var p clickPayload
	a.mustDo("", recordClickMutation, map[string]any{"input": in}, &p)
	return p
}

// conversionVars are recordConversion's variables.
func conversionVars(clickID, goalID string) map[string]any {
	return map[string]any{"input": map[string]any{"clickId": clickID, "goalId": goalID, "externalId": "ext-" + clickID}}
}

// mustAPIKey creates a CONVERSIONS_WRITE key for who and returns the secret.
func (a *testApp) mustAPIKey(who testUser) (key, id string) {
	a.t.Helper()
	var data struct {
		CreateApiKey struct {
			Key    string
			ApiKey struct{ ID string }
		}
	}
	a.mustDo(who.Token, `mutation { createApiKey(input: {name: "partner", scopes: [CONVERSIONS_WRITE]}) { key apiKey { id } } }`, nil, &data)
	return data.CreateApiKey.Key, data.CreateApiKey.ApiKey.ID
}

// doWithKey sends a GraphQL request with an API key.
func (a *testApp) doWithKey(key, query string, vars map[string]any) gqlResponse {
	a.t.Helper()
	return a.doHeaders(map[string]string{"X-Api-Key": key}, query, vars)
}

type totalsData struct {
	Campaign struct {
		Status                   string
		Stats                    struct{ Impressions, Clicks, Conversions int }
		Spent, Remaining, Budget struct{ Amount string }
		Participations           struct {
			Edges []struct {
				Node struct {
					ID    string
					Stats struct {
						Impressions, Clicks, Conversions int
						Earnings                         struct{ Amount string }
					}
				}
			}
		}
	}
}

// totals reads a campaign's counters, money and participations as its brand.
func (a *testApp) totals(brand testUser, campaignID string) totalsData {
	a.t.Helper()
	a.project()
	var d totalsData
	a.mustDo(brand.Token, `query($id: ID!) { campaign(id: $id) { status stats { impressions clicks conversions }
	  spent { amount } remaining { amount } budget { amount }
	  participations(first: 100) { edges { node { id stats { impressions clicks conversions earnings { amount } } } } } } }`,
		map[string]any{"id": campaignID}, &d)
	return d
}

type dailyData struct {
	DailyStats []struct {
		Date                             string
		Impressions, Clicks, Conversions int
		Spend, Earnings                  struct{ Amount string }
	}
}

const dailyStatsQuery = `query($scope: StatsScope!, $id: ID!, $from: String!, $to: String!) {
  dailyStats(scope: $scope, id: $id, from: $from, to: $to) { date impressions clicks conversions spend { amount } earnings { amount } } }`

// billings counts the stored events of kind by billing.
func (a *testApp) billings(kind domain.EventKind) map[domain.Billing]int {
	a.t.Helper()
	out := map[domain.Billing]int{}
	err := repository.NewProjection(a.store).EachEvent(context.Background(), func(e domain.EventRecord) error {
		if e.Kind == kind {
			out[e.Billing]++
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}
