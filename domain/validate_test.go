package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fields returns the input paths of err's field errors, in order.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("got %T %v, want FieldErrors", err, err)
	}
	var out []string
	for _, e := range fe {
		if e.Code != EINVALID {
			t.Errorf("%s: code %s, want %s", e.Field, e.Code, EINVALID)
		}
		if e.Message == "" || strings.Contains(e.Message, "Key: ") {
			t.Errorf("%s: message is not for people: %q", e.Field, e.Message)
		}
		out = append(out, e.Field)
	}
	return out
}

// wantFields checks that err names exactly the paths want (none: valid).
func wantFields(t *testing.T, err error, want ...string) {
	t.Helper()
	got := fields(t, err)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("invalid fields: got %q, want %q", got, want)
	}
}

// wantInvalid checks that err names exactly the path field, or, for the empty
// field, that there is no error.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		wantFields(t, err)
	} else {
		wantFields(t, err, field)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestSignUpValidate(t *testing.T) {
	t.Parallel()
	ok := func() SignUp {
		return SignUp{Email: "ann@example.com", Password: "correct horse", DisplayName: "Ann", Role: RoleStreamer}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*SignUp)
		field string
	}{
		{"OK", func(*SignUp) {}, ""},
		{"OKBrand", func(s *SignUp) { s.Role = RoleBrand }, ""},
		{"OKPassword72", func(s *SignUp) { s.Password = strings.Repeat("p", 72) }, ""},
		{"ErrEmailMissing", func(s *SignUp) { s.Email = "" }, "input.email"},
		{"ErrEmailMalformed", func(s *SignUp) { s.Email = "ann.example.com" }, "input.email"},
		{"ErrPasswordShort", func(s *SignUp) { s.Password = "1234567" }, "input.password"},
		{"ErrPasswordOver72", func(s *SignUp) { s.Password = strings.Repeat("p", 73) }, "input.password"},
		{"ErrDisplayNameMissing", func(s *SignUp) { s.DisplayName = "" }, "input.displayName"},
		{"ErrDisplayNameLong", func(s *SignUp) { s.DisplayName = strings.Repeat("d", 65) }, "input.displayName"},
		{"ErrRoleAdmin", func(s *SignUp) { s.Role = RoleAdmin }, "input.role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok()
			tc.edit(&in)
			wantInvalid(t, in.Validate("input"), tc.field)
		})
	}
}

func TestSignUpNormalize(t *testing.T) {
	t.Parallel()
	in := SignUp{Email: "  Ann@Example.COM ", DisplayName: "  Ann  "}
	in.Normalize()
	if got, want := in.Email, "ann@example.com"; got != want {
		t.Errorf("email: got %q, want %q", got, want)
	}
	if got, want := in.DisplayName, "Ann"; got != want {
		t.Errorf("displayName: got %q, want %q", got, want)
	}
}

func TestSelectionSettingsUpdateValidate(t *testing.T) {
	t.Parallel()
	period := func(edit func(*BlackoutPeriod)) []BlackoutPeriod {
		p := BlackoutPeriod{DaysOfWeek: []Weekday{"MONDAY"}, StartTime: "22:00", EndTime: "06:00", Timezone: "Europe/Berlin"}
		if edit != nil {
			edit(&p)
		}
		return []BlackoutPeriod{p}
	}
	weights := func(p, f, r float64) *PriorityWeights {
		return &PriorityWeights{PaymentRate: p, Performance: f, Fairness: r}
	}
	for _, tc := range []struct {
		name  string
		in    SelectionSettingsUpdate
		field string
	}{
		{"OKEmpty", SelectionSettingsUpdate{}, ""},
		{"OKInterval", SelectionSettingsUpdate{RotationIntervalMinutes: ptrTo(1440)}, ""},
		{"OKWeights", SelectionSettingsUpdate{PriorityWeights: weights(0.5, 0.25, 0.25)}, ""},
		{"OKWeightsWithinTolerance", SelectionSettingsUpdate{PriorityWeights: weights(0.1, 0.2, 0.7000000001)}, ""},
		{"OKPeriod", SelectionSettingsUpdate{BlackoutPeriods: period(nil)}, ""},
		{"OKNoPeriods", SelectionSettingsUpdate{BlackoutPeriods: []BlackoutPeriod{}}, ""},
		{"ErrIntervalZero", SelectionSettingsUpdate{RotationIntervalMinutes: ptrTo(0)}, "input.rotationIntervalMinutes"},
		{"ErrIntervalOverADay", SelectionSettingsUpdate{RotationIntervalMinutes: ptrTo(1441)}, "input.rotationIntervalMinutes"},
		{"ErrWeightNegative", SelectionSettingsUpdate{PriorityWeights: weights(0.75, -0.25, 0.5)}, "input.priorityWeights.performance"},
		{"ErrWeightsSum", SelectionSettingsUpdate{PriorityWeights: weights(0.5, 0.5, 0.5)}, "input.priorityWeights"},
		{"ErrWeightAboveOne", SelectionSettingsUpdate{PriorityWeights: weights(1.5, 0, 0)}, "input.priorityWeights.paymentRate"},
		{"ErrDaysEmpty", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.DaysOfWeek = nil })}, "input.blackoutPeriods[0].daysOfWeek"},
		{"ErrDayRepeated", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.DaysOfWeek = []Weekday{"MONDAY", "MONDAY"} })}, "input.blackoutPeriods[0].daysOfWeek"},
		{"ErrDayUnknown", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.DaysOfWeek = []Weekday{"MON"} })}, "input.blackoutPeriods[0].daysOfWeek[0]"},
		{"ErrStartTimeMalformed", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.StartTime = "9:00" })}, "input.blackoutPeriods[0].startTime"},
		{"ErrEndTime24", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.EndTime = "24:00" })}, "input.blackoutPeriods[0].endTime"},
		{"ErrEmptyWindow", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.EndTime = p.StartTime })}, "input.blackoutPeriods[0].endTime"},
		{"ErrTimezoneUnknown", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.Timezone = "Mars/Olympus" })}, "input.blackoutPeriods[0].timezone"},
		{"ErrTimezoneLocal", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.Timezone = "Local" })}, "input.blackoutPeriods[0].timezone"},
		{"ErrReasonLong", SelectionSettingsUpdate{BlackoutPeriods: period(func(p *BlackoutPeriod) { p.Reason = strings.Repeat("r", 201) })}, "input.blackoutPeriods[0].reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			wantInvalid(t, in.Validate("input"), tc.field)
		})
	}
	t.Run("ErrTwentyOnePeriods", func(t *testing.T) {
		p := period(nil)[0]
		in := SelectionSettingsUpdate{BlackoutPeriods: make([]BlackoutPeriod, 21)}
		for i := range in.BlackoutPeriods {
			in.BlackoutPeriods[i] = p
		}
		wantFields(t, in.Validate("input"), "input.blackoutPeriods")
		in.BlackoutPeriods = in.BlackoutPeriods[:20]
		wantFields(t, in.Validate("input"))
	})
	t.Run("EveryFieldAtOnce", func(t *testing.T) {
		in := SelectionSettingsUpdate{RotationIntervalMinutes: ptrTo(0), PriorityWeights: weights(0.2, 0.2, 0.2)}
		wantFields(t, in.Validate("input"), "input.rotationIntervalMinutes", "input.priorityWeights")
	})
}

func TestCampaignInputValidate(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ok := func() CampaignInput {
		return CampaignInput{Name: ptrTo("Winter sale"), LandingURL: ptrTo("https://shop.example.com/?click={click_id}")}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*CampaignInput)
		field string
	}{
		{"OK", func(*CampaignInput) {}, ""},
		{"OKPostbackURL", func(in *CampaignInput) { in.PostbackURL = ptrTo("http://partner.example/pb?c={click_id}") }, ""},
		{"OKGoals", func(in *CampaignInput) { in.Goals = []Goal{{GoalID: "a.b_c-1", Name: "A"}, {GoalID: "b", Name: "B"}} }, ""},
		{"OKDates", func(in *CampaignInput) { in.StartsAt, in.EndsAt = &start, ptrTo(start.Add(time.Hour)) }, ""},
		{"ErrNameMissing", func(in *CampaignInput) { in.Name = nil }, "input.name"},
		{"ErrNameEmpty", func(in *CampaignInput) { in.Name = ptrTo("") }, "input.name"},
		{"ErrNameLong", func(in *CampaignInput) { in.Name = ptrTo(strings.Repeat("n", 121)) }, "input.name"},
		{"ErrDescriptionLong", func(in *CampaignInput) { in.Description = ptrTo(strings.Repeat("d", 2001)) }, "input.description"},
		{"ErrLandingURLMissing", func(in *CampaignInput) { in.LandingURL = nil }, "input.landingUrl"},
		{"ErrLandingURLRelative", func(in *CampaignInput) { in.LandingURL = ptrTo("/offer") }, "input.landingUrl"},
		{"ErrLandingURLFTP", func(in *CampaignInput) { in.LandingURL = ptrTo("ftp://example.com/x") }, "input.landingUrl"},
		{"ErrLandingURLUserInfo", func(in *CampaignInput) { in.LandingURL = ptrTo("https://u:p@example.com/") }, "input.landingUrl"},
		{"ErrPostbackURLNoHost", func(in *CampaignInput) { in.PostbackURL = ptrTo("http//nohost") }, "input.postbackUrl"},
		{"ErrGoalIDRepeated", func(in *CampaignInput) { in.Goals = []Goal{{GoalID: "g", Name: "G"}, {GoalID: "g", Name: "H"}} }, "input.goals"},
		{"ErrGoalIDCharacters", func(in *CampaignInput) { in.Goals = []Goal{{GoalID: "a b", Name: "G"}} }, "input.goals[0].goalId"},
		{"ErrGoalNameMissing", func(in *CampaignInput) { in.Goals = []Goal{{GoalID: "g"}} }, "input.goals[0].name"},
		{"ErrEndsBeforeStarts", func(in *CampaignInput) { in.StartsAt, in.EndsAt = &start, ptrTo(start.Add(-time.Hour)) }, "input.endsAt"},
		{"ErrEndsAtStart", func(in *CampaignInput) { in.StartsAt, in.EndsAt = &start, &start }, "input.endsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ok()
			tc.edit(&in)
			wantInvalid(t, in.ValidateCreate("input"), tc.field)
		})
	}
	t.Run("UpdateNeedsNoName", func(t *testing.T) {
		var in CampaignInput
		wantFields(t, in.ValidateUpdate("input"))
	})
	t.Run("Normalize", func(t *testing.T) {
		in := CampaignInput{Name: ptrTo("  Sale "), Goals: []Goal{{GoalID: " g ", Name: " G "}}}
		in.Normalize()
		if got, want := *in.Name, "Sale"; got != want {
			t.Errorf("name: got %q, want %q", got, want)
		}
		if got, want := in.Goals[0].GoalID, "g"; got != want {
			t.Errorf("goalId: got %q, want %q", got, want)
		}
		if got, want := in.Goals[0].Name, "G"; got != want {
			t.Errorf("goal name: got %q, want %q", got, want)
		}
	})
}

func TestConversionInputValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    ConversionInput
		field string
	}{
		{"OK", ConversionInput{ClickID: "demo-click_1.x", GoalID: "purchase"}, ""},
		{"OKClickID64", ConversionInput{ClickID: strings.Repeat("c", 64), GoalID: "g"}, ""},
		{"ErrClickIDMissing", ConversionInput{GoalID: "g"}, "input.clickId"},
		{"ErrClickID65", ConversionInput{ClickID: strings.Repeat("c", 65), GoalID: "g"}, "input.clickId"},
		{"ErrClickIDCharacters", ConversionInput{ClickID: "a/b", GoalID: "g"}, "input.clickId"},
		{"ErrGoalIDMissing", ConversionInput{ClickID: "c"}, "input.goalId"},
		{"ErrGoalIDCharacters", ConversionInput{ClickID: "c", GoalID: "a b"}, "input.goalId"},
		{"ErrExternalIDLong", ConversionInput{ClickID: "c", GoalID: "g", ExternalID: strings.Repeat("e", 129)}, "input.externalId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			wantInvalid(t, in.Validate("input"), tc.field)
		})
	}
}

func TestAPIKeyInputValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		in    APIKeyInput
		field string
	}{
		{"OK", APIKeyInput{Name: "partner", Scopes: []Scope{ScopeConversionsWrite}}, ""},
		{"ErrNameBlank", APIKeyInput{Name: "  ", Scopes: []Scope{ScopeConversionsWrite}}, "input.name"},
		{"ErrNameLong", APIKeyInput{Name: strings.Repeat("k", 81), Scopes: []Scope{ScopeConversionsWrite}}, "input.name"},
		{"ErrScopesEmpty", APIKeyInput{Name: "partner", Scopes: []Scope{}}, "input.scopes"},
		{"ErrScopeRepeated", APIKeyInput{Name: "partner", Scopes: []Scope{ScopeConversionsWrite, ScopeConversionsWrite}}, "input.scopes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			wantInvalid(t, in.Validate("input"), tc.field)
		})
	}
}

func TestPageArgsValidate(t *testing.T) {
	t.Parallel()
	cursor := Cursor{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for _, tc := range []struct {
		name  string
		in    PageArgs
		field string
	}{
		{"OKZero", PageArgs{}, ""},
		{"OKMax", PageArgs{First: MaxPageSize}, ""},
		{"OKCursor", PageArgs{First: 5, After: cursor.String()}, ""},
		{"ErrNegative", PageArgs{First: -1}, "first"},
		{"ErrOverMax", PageArgs{First: MaxPageSize + 1}, "first"},
		{"ErrCursorNotBase64", PageArgs{After: "not a cursor!"}, "after"},
		{"ErrCursorShort", PageArgs{After: "AAAA"}, "after"},
		{"OKLast", PageArgs{Last: MaxPageSize, Before: cursor.String()}, ""},
		{"OKBothCursors", PageArgs{First: 5, After: cursor.String(), Before: cursor.String()}, ""},
		{"ErrFirstAndLast", PageArgs{First: 1, Last: 1}, "last"},
		{"ErrLastNegative", PageArgs{Last: -1}, "last"},
		{"ErrLastOverMax", PageArgs{Last: MaxPageSize + 1}, "last"},
		{"ErrBeforeNotACursor", PageArgs{Before: "AAAA"}, "before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if got := ErrorField(err); got != tc.field {
				t.Errorf("field: got %q, want %q (err %v)", got, tc.field, err)
			}
			if tc.field != "" && ErrorCode(err) != EINVALID {
				t.Errorf("code: got %q, want %s", ErrorCode(err), EINVALID)
			}
		})
	}
	t.Run("CursorRoundTrip", func(t *testing.T) {
		got, err := parseCursor("after", cursor.String())
		if err != nil || got != cursor {
			t.Errorf("parseCursor(%q) = %v, %v; want %v", cursor.String(), got, err, cursor)
		}
	})
}
