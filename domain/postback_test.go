package domain

import (
	"strings"
	"testing"
)

func TestValidatePostbackTemplate(t *testing.T) {
	for _, tc := range []struct {
		name, tpl string
		want      string // part of the message; "" for valid
	}{
		{"OKClickID", "https://p.example/pb?c={click_id}", ""},
		{"OKNoMacro", "https://p.example/pb", ""},
		{"OKPathAndQuery", "http://p.example/pb/{goal_id}/{status}?v={payout}&c={currency}&x={external_id}&s={sub5}", ""},
		{"OKEncodedBrace", "https://p.example/pb?lit=%7Bx%7D&c={click_id}", ""},
		{"ErrUnknown", "https://p.example/pb?c={clickid}", "unknown macro {clickid}"},
		{"ErrEmptyMacro", "https://p.example/pb?c={}", "unknown macro {}"},
		{"ErrUpperCase", "https://p.example/pb?c={CLICK_ID}", "unknown macro {CLICK_ID}"},
		{"ErrUnclosed", "https://p.example/pb?c={click_id", "brace"},
		{"ErrStrayClose", "https://p.example/pb?c=click_id}", "brace"},
		{"ErrHost", "https://{sub1}.p.example/pb", "host"},
		{"ErrHostPort", "https://p.example:{sub1}/pb", "host"},
		{"ErrScheme", "javascript:alert({click_id})", "absolute http(s) URL"},
		{"ErrRelative", "/pb?c={click_id}", "absolute http(s) URL"},
		{"ErrUserinfo", "https://u:p@p.example/pb", "absolute http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePostbackTemplate("input.url", tc.tpl)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tc.want != "" && err == nil:
				t.Errorf("valid, want an error about %q", tc.want)
			case err != nil && (err.Field != "input.url" || err.Code != EINVALID || !strings.Contains(err.Message, tc.want)):
				t.Errorf("got %v, want BAD_USER_INPUT on input.url about %q", err, tc.want)
			}
		})
	}
}

func TestExpandPostback(t *testing.T) {
	got := ExpandPostback("https://p.example/pb/{goal_id}?c={click_id}&s={sub1}&none={sub2}",
		map[string]string{"goal_id": "a/b", "click_id": "x y", "sub1": "&c=evil#frag"})
	want := "https://p.example/pb/a%2Fb?c=x+y&s=%26c%3Devil%23frag&none="
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPostbackInputValidate(t *testing.T) {
	c := Campaign{Goals: []Goal{{GoalID: "signup"}}}
	bad := "https://p.example/?x={nope}"
	in := PostbackInput{URL: &bad, GoalURLs: []GoalPostbackURL{{GoalID: "signup", URL: "https://p.example/{goal_id}"},
		{GoalID: "ftd", URL: "https://p.example/"}, {GoalID: "signup", URL: "https://p.example/?{x}"}}}
	err := in.Validate("input", c)
	fe, ok := err.(FieldErrors)
	if !ok {
		t.Fatalf("got %v, want field errors", err)
	}
	var fields []string
	for _, e := range fe {
		fields = append(fields, e.Field)
	}
	for _, want := range []string{"input.url", "input.goalUrls[1].goalId", "input.goalUrls"} {
		found := false
		for _, f := range fields {
			found = found || f == want
		}
		if !found {
			t.Errorf("no error on %s (got %q)", want, fields)
		}
	}
	empty := ""
	if err := (&PostbackInput{URL: &empty}).Validate("input", c); err != nil {
		t.Errorf("an empty URL (remove the template): %v", err)
	}
}
