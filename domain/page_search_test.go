package domain

import (
	"strings"
	"testing"
)

func TestCampaignFilterSearchBounds(t *testing.T) {
	for _, c := range []struct {
		search string
		ok     bool
	}{
		{"", true},
		{"summer sale", true},
		{strings.Repeat("w ", MaxSearchWords), true},
		{strings.Repeat("w ", MaxSearchWords+1), false},
		{strings.Repeat("w-", MaxSearchWords+1), false},
		{strings.Repeat("ü", MaxSearchBytes/2), true},
		{strings.Repeat("ü", MaxSearchBytes/2+1), false},
		{strings.Repeat(" ", MaxSearchBytes), true},
		{strings.Repeat("a ", 250_000), false},
	} {
		err := CampaignFilter{Search: c.search}.Validate("filter")
		if (err == nil) != c.ok {
			t.Errorf("search of %d bytes: %v, want ok %v", len(c.search), err, c.ok)
		}
		if err != nil && (ErrorCode(err) != EINVALID || ErrorField(err) != "filter.search") {
			t.Errorf("search of %d bytes: %v, want BAD_USER_INPUT on filter.search", len(c.search), err)
		}
	}
}
