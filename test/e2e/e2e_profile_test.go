package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"tally/repository"
)

const meQuery = `{ me { id email displayName role createdAt campaignSelectionStrategy
  campaignRotationSettings { preferredStrategy rotationIntervalMinutes
    priorityWeights { paymentRate performance fairness }
    blackoutPeriods { daysOfWeek startTime endTime timezone reason } } } }`

type meData struct {
	Me struct {
		ID, Email, DisplayName, Role, CreatedAt, CampaignSelectionStrategy string
		CampaignRotationSettings                                           struct {
			PreferredStrategy       string
			RotationIntervalMinutes int
			PriorityWeights         struct{ PaymentRate, Performance, Fairness float64 }
			BlackoutPeriods         []struct {
				DaysOfWeek                   []string
				StartTime, EndTime, Timezone string
				Reason                       *string
			}
		}
	}
}

func signUpInput(email, password, role string) map[string]any {
	return map[string]any{"input": map[string]any{"email": email, "password": password, "displayName": "Ann", "role": role}}
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)

	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		var data struct {
			SignUp struct {
				Token string
				User  struct{ ID, Email, Role string }
			}
		}
		a.mustDo("", signUpMutation, signUpInput("  Ann.Smith@Example.COM ", "correct horse", "STREAMER"), &data)
		if data.SignUp.Token == "" {
			t.Fatal("no token")
		}
		if got, want := data.SignUp.User.Email, "ann.smith@example.com"; got != want {
			t.Errorf("email: got %q, want %q", got, want)
		}
		if got, want := data.SignUp.User.Role, "STREAMER"; got != want {
			t.Errorf("role: got %q, want %q", got, want)
		}
		var me meData
		a.mustDo(data.SignUp.Token, meQuery, nil, &me)
		if me.Me.ID != data.SignUp.User.ID {
			t.Errorf("me.id: got %q, want %q", me.Me.ID, data.SignUp.User.ID)
		}
	})
	t.Run("ErrEmailTakenInAnyCase", func(t *testing.T) {
		a := a.in(t)
		a.mustDo("", signUpMutation, signUpInput("taken@example.com", "correct horse", "BRAND"), nil)
		e := a.mustFail("", signUpMutation, signUpInput("TAKEN@example.com", "another pass", "STREAMER"), "CONFLICT", "")
		if strings.Contains(e.Message, "E11000") || strings.Contains(e.Message, "duplicate") {
			t.Errorf("message leaks the store: %q", e.Message)
		}
	})
	t.Run("ErrEmailMalformed", func(t *testing.T) {
		a := a.in(t)
		for _, email := range []string{"", "not-an-email", "a@", "@b.c", strings.Repeat("a", 250) + "@b.io"} {
			a.mustFail("", signUpMutation, signUpInput(email, "correct horse", "STREAMER"), "BAD_USER_INPUT", "input.email")
		}
	})
	t.Run("ErrPasswordShort", func(t *testing.T) {
		a := a.in(t)
		e := a.mustFail("", signUpMutation, signUpInput("short@example.com", "1234567", "STREAMER"), "BAD_USER_INPUT", "input.password")
		if !strings.Contains(e.Message, "8") {
			t.Errorf("message does not say the minimum: %q", e.Message)
		}
	})
	t.Run("ErrRoleAdmin", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", signUpMutation, signUpInput("admin@example.com", "correct horse", "ADMIN"), "BAD_USER_INPUT", "input.role")
	})
	t.Run("ErrRoleUnknown", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", signUpMutation, signUpInput("x@example.com", "correct horse", "KING"), "BAD_USER_INPUT", "")
	})
	t.Run("ErrDisplayNameBlank", func(t *testing.T) {
		a := a.in(t)
		in := signUpInput("blank@example.com", "correct horse", "STREAMER")
		in["input"].(map[string]any)["displayName"] = "   "
		a.mustFail("", signUpMutation, in, "BAD_USER_INPUT", "input.displayName")
	})
	t.Run("ConcurrentSameEmailCreatesOne", func(t *testing.T) {
		a := a.in(t)
		const n = 16
		var ok, conflict, other atomic.Int32
		race(t, n, func(i int) {
			email := "race@example.com"
			if i%2 == 1 {
				email = "RACE@Example.com"
			}
			r := a.do("", signUpMutation, signUpInput(email, "correct horse", "STREAMER"))
			switch {
			case len(r.Errors) == 0:
				ok.Add(1)
			case r.Errors[0].Code() == "CONFLICT":
				conflict.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected error: %+v", r.Errors)
			}
		})
		if ok.Load() != 1 || conflict.Load() != n-1 || other.Load() != 0 {
			t.Fatalf("got %d created, %d conflicts, %d other; want 1, %d, 0", ok.Load(), conflict.Load(), other.Load(), n-1)
		}
	})
}

func TestLogIn(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	a.mustDo("", signUpMutation, signUpInput("login@example.com", "correct horse", "BRAND"), nil)
	const q = `mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) { token user { email role } } }`

	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		var data struct {
			LogIn struct {
				Token string
				User  struct{ Email, Role string }
			}
		}
		a.mustDo("", q, map[string]any{"e": " LOGIN@example.com", "p": "correct horse"}, &data)
		if data.LogIn.Token == "" {
			t.Fatal("token: got none")
		}
		wantField(t, "user.role", data.LogIn.User.Role, "BRAND")
		var me meData
		a.mustDo(data.LogIn.Token, meQuery, nil, &me)
		if me.Me.Email != "login@example.com" {
			t.Errorf("me.email: got %q", me.Me.Email)
		}
	})
	t.Run("ErrWrongPasswordSaysNoMore", func(t *testing.T) {
		a := a.in(t)
		wrongPass := a.mustFail("", q, map[string]any{"e": "login@example.com", "p": "wrong horse"}, "UNAUTHENTICATED", "")
		noUser := a.mustFail("", q, map[string]any{"e": "nobody@example.com", "p": "wrong horse"}, "UNAUTHENTICATED", "")
		if wrongPass.Message != noUser.Message {
			t.Errorf("messages differ, which tells who has an account: %q vs %q", wrongPass.Message, noUser.Message)
		}
	})
}

func TestMe(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", meQuery, nil, "UNAUTHENTICATED", "")
	})
	t.Run("ErrBadToken", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("not.a.jwt", meQuery, nil, "UNAUTHENTICATED", "")
	})
	t.Run("ErrExpiredToken", func(t *testing.T) {
		a := a.in(t)
		u := a.mustSignUp("STREAMER")
		a.clock.Advance(25 * time.Hour)
		defer a.clock.Advance(-25 * time.Hour)
		a.mustFail(u.Token, meQuery, nil, "UNAUTHENTICATED", "")
	})
	t.Run("NewUserHasEveryFieldWithDefaults", func(t *testing.T) {
		a := a.in(t)
		u := a.mustSignUp("STREAMER")
		var me meData
		a.mustDo(u.Token, meQuery, nil, &me)
		m := me.Me
		s := m.CampaignRotationSettings
		wantField(t, "campaignSelectionStrategy", m.CampaignSelectionStrategy, "FAIR_ROTATION")
		wantField(t, "preferredStrategy", s.PreferredStrategy, "FAIR_ROTATION")
		wantField(t, "rotationIntervalMinutes", s.RotationIntervalMinutes, 3)
		wantField(t, "priorityWeights.paymentRate", s.PriorityWeights.PaymentRate, 0.4)
		wantField(t, "priorityWeights.performance", s.PriorityWeights.Performance, 0.3)
		wantField(t, "priorityWeights.fairness", s.PriorityWeights.Fairness, 0.3)
		if s.BlackoutPeriods == nil || len(s.BlackoutPeriods) != 0 {
			t.Errorf("blackoutPeriods: got %#v, want []", s.BlackoutPeriods)
		}
		wantField(t, "createdAt", m.CreatedAt, "2026-11-23T12:00:00Z")
		wantField(t, "displayName", m.DisplayName, "User STREAMER")
		wantField(t, "role", m.Role, "STREAMER")
	})
}

// TestLegacyDocuments reads users as the old system wrote them — kebab-case
// strategies, settings or blackout periods missing, null settings, numeric
// days — through GraphQL: every non-null field comes back, defaulted.
func TestLegacyDocuments(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)
	ctx := context.Background()
	created := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ids := map[string]primitive.ObjectID{}
	docs := map[string]bson.M{
		"kebab": {"email": "kebab@example.com", "displayName": "Kebab", "role": "streamer", "createdAt": created,
			"campaignSelectionStrategy": "highest-paying",
			"campaignRotationSettings":  bson.M{"preferredStrategy": "highest-paying", "rotationIntervalMinutes": int32(10)}},
		"noSettings":   {"email": "nosettings@example.com", "role": "streamer"},
		"nullSettings": {"email": "null@example.com", "role": "brand", "campaignRotationSettings": nil},
		"strategyOnly": {"email": "strategy@example.com", "campaignSelectionStrategy": "performance"},
		"numericDays": {"email": "days@example.com", "role": "streamer", "campaignRotationSettings": bson.M{
			"priorityWeights": bson.M{"paymentRate": 0.5, "performance": 0.25, "fairness": 0.25},
			"blackoutPeriods": bson.A{bson.M{"daysOfWeek": bson.A{int32(0), int32(6)}, "startTime": "22:00", "endTime": "06:00"}}}},
	}
	var raw []any
	for name, d := range docs {
		ids[name] = primitive.NewObjectID()
		d["_id"] = ids[name]
		d["password"] = "$2a$10$legacyhashlegacyhashlegacyhashlegacyhashlegacyhashleg"
		raw = append(raw, d)
	}
	if err := repository.SeedRaw(ctx, a.store, "users", raw...); err != nil {
		t.Fatal(err)
	}
	tokens := a.tokens()
	me := func(name, role string) meData {
		t.Helper()
		var m meData
		a.mustDo(tokens.issue(t, ids[name].Hex(), role), meQuery, nil, &m)
		return m
	}

	t.Run("KebabStrategy", func(t *testing.T) {
		m := me("kebab", "streamer").Me
		if m.CampaignSelectionStrategy != "HIGHEST_PAYING" || m.CampaignRotationSettings.PreferredStrategy != "HIGHEST_PAYING" {
			t.Errorf("strategy: got %q/%q", m.CampaignSelectionStrategy, m.CampaignRotationSettings.PreferredStrategy)
		}
		if m.CampaignRotationSettings.RotationIntervalMinutes != 10 {
			t.Errorf("interval: got %d, want 10", m.CampaignRotationSettings.RotationIntervalMinutes)
		}
		wantField(t, "priorityWeights.paymentRate (the default)", m.CampaignRotationSettings.PriorityWeights.PaymentRate, 0.4)
		if m.CreatedAt != "2024-03-01T10:00:00Z" {
			t.Errorf("createdAt: got %q", m.CreatedAt)
		}
	})
	t.Run("SettingsMissing", func(t *testing.T) {
		m := me("noSettings", "streamer").Me
		wantField(t, "campaignSelectionStrategy", m.CampaignSelectionStrategy, "FAIR_ROTATION")
		wantField(t, "rotationIntervalMinutes", m.CampaignRotationSettings.RotationIntervalMinutes, 3)
		if m.CampaignRotationSettings.BlackoutPeriods == nil {
			t.Error("blackoutPeriods: got null, want []")
		}
		if m.DisplayName != "nosettings" {
			t.Errorf("displayName falls back to the email's local part: got %q", m.DisplayName)
		}
		if m.CreatedAt != ids["noSettings"].Timestamp().UTC().Format(time.RFC3339) {
			t.Errorf("createdAt falls back to the id's time: got %q", m.CreatedAt)
		}
	})
	t.Run("StrategyOnlyAtTopLevel", func(t *testing.T) {
		m := me("strategyOnly", "streamer").Me
		if m.CampaignSelectionStrategy != "PERFORMANCE" || m.CampaignRotationSettings.PreferredStrategy != "PERFORMANCE" {
			t.Errorf("got %q/%q", m.CampaignSelectionStrategy, m.CampaignRotationSettings.PreferredStrategy)
		}
		if m.Role != "STREAMER" {
			t.Errorf("role defaults to STREAMER: got %q", m.Role)
		}
	})
	t.Run("NumericDaysAndMissingZone", func(t *testing.T) {
		m := me("numericDays", "streamer").Me
		bp := m.CampaignRotationSettings.BlackoutPeriods
		if len(bp) != 1 {
			t.Fatalf("blackoutPeriods: got %d, want 1", len(bp))
		}
		wantField(t, "daysOfWeek", strings.Join(bp[0].DaysOfWeek, ","), "SUNDAY,SATURDAY")
		wantField(t, "timezone", bp[0].Timezone, "UTC")
		wantField(t, "priorityWeights.paymentRate", m.CampaignRotationSettings.PriorityWeights.PaymentRate, 0.5)
		wantField(t, "priorityWeights.fairness", m.CampaignRotationSettings.PriorityWeights.Fairness, 0.25)
	})
	t.Run("UpdateOnNullSettings", func(t *testing.T) {
		a := a.in(t)
		tok := tokens.issue(t, ids["nullSettings"].Hex(), "brand")
		var data struct {
			UpdateCampaignSelectionSettings struct {
				CampaignSelectionStrategy string
				CampaignRotationSettings  struct{ RotationIntervalMinutes int }
			}
		}
		a.mustDo(tok, updateSettingsMutation, map[string]any{"input": map[string]any{"rotationIntervalMinutes": 7}}, &data)
		if got := data.UpdateCampaignSelectionSettings.CampaignRotationSettings.RotationIntervalMinutes; got != 7 {
			t.Errorf("interval: got %d, want 7", got)
		}
		if got := data.UpdateCampaignSelectionSettings.CampaignSelectionStrategy; got != "FAIR_ROTATION" {
			t.Errorf("strategy: got %q", got)
		}
	})
}

const updateSettingsMutation = `mutation($input: UpdateCampaignSelectionSettingsInput!) {
  updateCampaignSelectionSettings(input: $input) { id campaignSelectionStrategy
    campaignRotationSettings { preferredStrategy rotationIntervalMinutes
      priorityWeights { paymentRate performance fairness }
      blackoutPeriods { daysOfWeek startTime endTime timezone reason } } } }`

func TestUpdateCampaignSelectionSettings(t *testing.T) {
	t.Parallel()
	a := mustStartApp(t)

	t.Run("ErrUnauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.mustFail("", updateSettingsMutation, map[string]any{"input": map[string]any{"rotationIntervalMinutes": 5}}, "UNAUTHENTICATED", "")
	})
	t.Run("StrategyGoesToBothFields", func(t *testing.T) {
		a := a.in(t)
		u := a.mustSignUp("STREAMER")
		a.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{"strategy": "WEIGHTED"}}, nil)
		var me meData
		a.mustDo(u.Token, meQuery, nil, &me)
		if me.Me.CampaignSelectionStrategy != "WEIGHTED" || me.Me.CampaignRotationSettings.PreferredStrategy != "WEIGHTED" {
			t.Errorf("got %q/%q", me.Me.CampaignSelectionStrategy, me.Me.CampaignRotationSettings.PreferredStrategy)
		}
		if me.Me.CampaignRotationSettings.RotationIntervalMinutes != 3 {
			t.Errorf("interval changed: %d", me.Me.CampaignRotationSettings.RotationIntervalMinutes)
		}
	})
	t.Run("OnlyGivenFieldsChange", func(t *testing.T) {
		a := a.in(t)
		u := a.mustSignUp("STREAMER")
		in := map[string]any{
			"rotationIntervalMinutes": 15,
			"priorityWeights":         map[string]any{"paymentRate": 0.2, "performance": 0.5, "fairness": 0.3},
			"blackoutPeriods": []any{map[string]any{
				"daysOfWeek": []string{"FRIDAY", "SATURDAY"}, "startTime": "22:00", "endTime": "02:00",
				"timezone": "Europe/Berlin", "reason": "sleep"}},
		}
		a.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": in}, nil)
		a.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{"rotationIntervalMinutes": 20}}, nil)
		var me meData
		a.mustDo(u.Token, meQuery, nil, &me)
		s := me.Me.CampaignRotationSettings
		wantField(t, "rotationIntervalMinutes", s.RotationIntervalMinutes, 20)
		wantField(t, "priorityWeights.performance", s.PriorityWeights.Performance, 0.5)
		wantField(t, "preferredStrategy", s.PreferredStrategy, "FAIR_ROTATION")
		if len(s.BlackoutPeriods) != 1 {
			t.Fatalf("blackoutPeriods: got %d, want 1", len(s.BlackoutPeriods))
		}
		bp := s.BlackoutPeriods[0]
		wantField(t, "blackoutPeriods[0].timezone", bp.Timezone, "Europe/Berlin")
		wantField(t, "blackoutPeriods[0].endTime", bp.EndTime, "02:00")
		if bp.Reason == nil || *bp.Reason != "sleep" {
			t.Errorf("blackoutPeriods[0].reason: got %v, want sleep", bp.Reason)
		}
		a.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{"blackoutPeriods": []any{}}}, nil)
		a.mustDo(u.Token, meQuery, nil, &me)
		if n := len(me.Me.CampaignRotationSettings.BlackoutPeriods); n != 0 {
			t.Errorf("an empty list clears: got %d periods", n)
		}
	})
	t.Run("WeightsSumWithinTolerance", func(t *testing.T) {
		a := a.in(t)
		u := a.mustSignUp("STREAMER")
		a.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{
			"priorityWeights": map[string]any{"paymentRate": 0.1, "performance": 0.2, "fairness": 0.7000001}}}, nil)
	})

	period := func(mut func(p map[string]any)) map[string]any {
		p := map[string]any{"daysOfWeek": []string{"MONDAY"}, "startTime": "09:00", "endTime": "17:00", "timezone": "UTC"}
		if mut != nil {
			mut(p)
		}
		return map[string]any{"blackoutPeriods": []any{p}}
	}
	tooMany := make([]any, 21)
	for i := range tooMany {
		tooMany[i] = period(nil)["blackoutPeriods"].([]any)[0]
	}
	invalid := []struct {
		name  string
		input map[string]any
		field string
	}{
		{"ErrWeightAboveOne", map[string]any{"priorityWeights": map[string]any{"paymentRate": 1.5, "performance": -0.5, "fairness": 0}}, "input.priorityWeights.paymentRate"},
		{"ErrWeightNegative", map[string]any{"priorityWeights": map[string]any{"paymentRate": 0.5, "performance": -0.1, "fairness": 0.6}}, "input.priorityWeights.performance"},
		{"ErrWeightsSum", map[string]any{"priorityWeights": map[string]any{"paymentRate": 0.5, "performance": 0.5, "fairness": 0.5}}, "input.priorityWeights"},
		{"ErrIntervalZero", map[string]any{"rotationIntervalMinutes": 0}, "input.rotationIntervalMinutes"},
		{"ErrIntervalOverADay", map[string]any{"rotationIntervalMinutes": 1441}, "input.rotationIntervalMinutes"},
		{"ErrDaysEmpty", period(func(p map[string]any) { p["daysOfWeek"] = []string{} }), "input.blackoutPeriods[0].daysOfWeek"},
		{"ErrDaysRepeated", period(func(p map[string]any) { p["daysOfWeek"] = []string{"MONDAY", "MONDAY"} }), "input.blackoutPeriods[0].daysOfWeek"},
		{"ErrStartTimeMalformed", period(func(p map[string]any) { p["startTime"] = "9:00" }), "input.blackoutPeriods[0].startTime"},
		{"ErrEndTimeOutOfRange", period(func(p map[string]any) { p["endTime"] = "24:00" }), "input.blackoutPeriods[0].endTime"},
		{"ErrEmptyWindow", period(func(p map[string]any) { p["endTime"] = "09:00" }), "input.blackoutPeriods[0].endTime"},
		{"ErrTimezoneUnknown", period(func(p map[string]any) { p["timezone"] = "Mars/Olympus" }), "input.blackoutPeriods[0].timezone"},
		{"ErrTimezoneLocal", period(func(p map[string]any) { p["timezone"] = "Local" }), "input.blackoutPeriods[0].timezone"},
		{"ErrReasonTooLong", period(func(p map[string]any) { p["reason"] = strings.Repeat("x", 201) }), "input.blackoutPeriods[0].reason"},
		{"ErrTooManyPeriods", map[string]any{"blackoutPeriods": tooMany}, "input.blackoutPeriods"},
	}
	u := a.mustSignUp("STREAMER")
	var before meData
	a.mustDo(u.Token, meQuery, nil, &before)
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			// A valid field beside the invalid one must not be written either.
			in := map[string]any{"strategy": "PERFORMANCE"}
			for k, v := range tc.input {
				in[k] = v
			}
			e := a.mustFail(u.Token, updateSettingsMutation, map[string]any{"input": in}, "BAD_USER_INPUT", tc.field)
			if e.Message == "" || strings.Contains(e.Message, "Key: ") {
				t.Errorf("message is not for people: %q", e.Message)
			}
			var after meData
			a.mustDo(u.Token, meQuery, nil, &after)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("invalid input changed the user:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
	t.Run("ErrWeekdayNotAnEnumValue", func(t *testing.T) {
		a := a.in(t)
		a.mustFail(u.Token, updateSettingsMutation, map[string]any{"input": period(func(p map[string]any) { p["daysOfWeek"] = []string{"FUNDAY"} })}, "BAD_USER_INPUT", "")
	})
	t.Run("AllFieldErrorsAtOnce", func(t *testing.T) {
		a := a.in(t)
		r := a.do(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{"rotationIntervalMinutes": 0,
			"priorityWeights": map[string]any{"paymentRate": 0.5, "performance": 0.5, "fairness": 0.5}}})
		fields := map[string]bool{}
		for _, e := range r.Errors {
			fields[e.Field()] = true
		}
		if !fields["input.rotationIntervalMinutes"] || !fields["input.priorityWeights"] {
			t.Errorf("got %+v", r.Errors)
		}
	})
}
