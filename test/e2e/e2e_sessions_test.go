package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"tally/domain"
	"tally/repository"
)

const meIDQuery = `{ me { id role } }`

// mustBeSignedOut checks that token no longer authenticates.
func (a *testApp) mustBeSignedOut(token string) {
	a.t.Helper()
	a.mustFail(token, meIDQuery, nil, "UNAUTHENTICATED", "")
}

func TestLogOut(t *testing.T) {
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	other, _ := a.mustLogIn(u.Email, "correct horse") // a second device

	t.Run("ErrAnonymous", func(t *testing.T) {
		a.in(t).mustFail("", `mutation { logOut }`, nil, "UNAUTHENTICATED", "")
	})
	t.Run("EndsEverySession", func(t *testing.T) {
		a := a.in(t)
		var d struct{ LogOut bool }
		a.mustDo(u.Token, `mutation { logOut }`, nil, &d)
		if !d.LogOut {
			t.Fatal("logOut answered false")
		}
		a.mustBeSignedOut(u.Token)
		a.mustBeSignedOut(other)
		a.mustFail(u.Token, `mutation { logOut }`, nil, "UNAUTHENTICATED", "")
	})
	t.Run("LogInAgain", func(t *testing.T) {
		a := a.in(t)
		tok, _ := a.mustLogIn(u.Email, "correct horse")
		a.mustDo(tok, meIDQuery, nil, nil)
	})
}

func TestChangePassword(t *testing.T) {
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	other, _ := a.mustLogIn(u.Email, "correct horse")
	const change = `mutation($in: ChangePasswordInput!) { changePassword(input: $in) { token user { id email } } }`
	in := func(current, next string) map[string]any {
		return map[string]any{"in": map[string]any{"currentPassword": current, "newPassword": next}}
	}

	t.Run("ErrAnonymous", func(t *testing.T) {
		a.in(t).mustFail("", change, in("correct horse", "battery staple"), "UNAUTHENTICATED", "")
	})
	t.Run("ErrWrongCurrentPassword", func(t *testing.T) {
		a.in(t).mustFail(u.Token, change, in("wrong horse", "battery staple"), "BAD_USER_INPUT", "input.currentPassword")
		a.in(t).mustDo(u.Token, meIDQuery, nil, nil) // nothing ended
	})
	t.Run("ErrShortNewPassword", func(t *testing.T) {
		a.in(t).mustFail(u.Token, change, in("correct horse", "short"), "BAD_USER_INPUT", "input.newPassword")
	})
	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		var d struct {
			ChangePassword struct {
				Token string
				User  struct{ ID, Email string }
			}
		}
		a.mustDo(u.Token, change, in("correct horse", "battery staple"), &d)
		if d.ChangePassword.User.ID != u.ID || d.ChangePassword.User.Email != u.Email {
			t.Errorf("user: got %+v", d.ChangePassword.User)
		}
		a.mustBeSignedOut(u.Token)
		a.mustBeSignedOut(other)
		a.mustDo(d.ChangePassword.Token, meIDQuery, nil, nil)
		a.mustFail("", logInMutation, map[string]any{"e": u.Email, "p": "correct horse"}, "UNAUTHENTICATED", "")
		a.mustLogIn(u.Email, "battery staple")
	})
}

// TestRoleChangeTakesEffectAtOnce: the role in force is the stored one, read
// with the session on every request, not the one the token was issued with.
func TestRoleChangeTakesEffectAtOnce(t *testing.T) {
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	draft := a.mustCreateCampaign(brand, campaignInput("Draft")) // only its brand and admins see a DRAFT
	u := a.mustSignUp("STREAMER")
	users := repository.NewUsers(a.store)
	const q = `query($id: ID!) { campaign(id: $id) { id } }`
	vars := map[string]any{"id": draft.ID}

	a.mustFail(u.Token, q, vars, "NOT_FOUND", "")
	if _, err := users.SetRole(context.Background(), u.Email, domain.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var me struct{ Me struct{ Role string } }
	a.mustDo(u.Token, meIDQuery, nil, &me)
	if me.Me.Role != "ADMIN" {
		t.Errorf("me.role: got %s, want ADMIN", me.Me.Role)
	}
	a.mustDo(u.Token, q, vars, nil) // the old token acts as an admin now
	if _, err := users.SetRole(context.Background(), u.Email, domain.RoleStreamer); err != nil {
		t.Fatal(err)
	}
	a.mustFail(u.Token, q, vars, "NOT_FOUND", "") // and no longer
}

// TestMeIsOneStoreRead: the session check reads the user, and me answers from
// that read.
func TestMeIsOneStoreRead(t *testing.T) {
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	before := a.store.Calls()
	a.mustDo(u.Token, `{ me { id email role displayName campaignRotationSettings { rotationIntervalMinutes } } }`, nil, nil)
	if n := a.store.Calls() - before; n != 1 {
		t.Errorf("me made %d store calls, want 1", n)
	}
}

// TestRejectedAuthorizationSaysWhy: a caller who sent an Authorization
// header that found no session is told that it did not work and what to do
// (one message for every bad token), not "sign in first" as if it sent none.
func TestRejectedAuthorizationSaysWhy(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	ended, _ := a.mustLogIn(u.Email, "correct horse")
	a.mustDo(ended, `mutation { logOut }`, nil, nil)
	for _, tc := range []struct {
		name, authorization, want string
	}{
		{"None", "", "sign in first"},
		{"Malformed", "Bearer not-a-token", "log in again"},
		{"Ended", "Bearer " + ended, "log in again"},
		{"NoScheme", ended, `must be "Bearer <token>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.in(t).doHeaders(map[string]string{"Authorization": tc.authorization}, meIDQuery, nil)
			if len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" || !strings.Contains(r.Errors[0].Message, tc.want) {
				t.Errorf("errors %+v, want one UNAUTHENTICATED saying %q", r.Errors, tc.want)
			}
		})
	}
}

// TestAPIKeyAloneSaysKeysDoNotSignIn: a partner that sends its API key where
// a user is required (a query, the report CSV) is told that keys only record
// conversions, not "sign in first" as if it had sent nothing.
func TestAPIKeyAloneSaysKeysDoNotSignIn(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	brand := a.mustSignUp("BRAND")
	key, _ := a.mustAPIKey(brand)
	r := a.doWithKey(key, meIDQuery, nil)
	if len(r.Errors) != 1 || r.Errors[0].Code() != "UNAUTHENTICATED" || !strings.Contains(r.Errors[0].Message, "API keys only record conversions") {
		t.Errorf("me with an API key: errors %+v, want one UNAUTHENTICATED saying API keys only record conversions", r.Errors)
	}
	resp, raw := a.request(http.MethodGet, "/reports.csv?from=2026-11-01&to=2026-11-01&timeZone=UTC&granularity=DAY&campaignId=x",
		map[string]string{"X-Api-Key": key}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), "API keys only record conversions") {
		t.Errorf("reports.csv with an API key: %d %s, want 401 saying API keys only record conversions", resp.StatusCode, raw)
	}
}
