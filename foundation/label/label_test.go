package label

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	long := strings.Repeat("a", MaxLen+1)
	for name, c := range map[string]struct{ in, want string }{
		"Empty":             {"", ""},
		"ASCII":             {"GetCampaigns", "GetCampaigns"},
		"Unicode":           {"Kampagnen_Übersicht ✓", "Kampagnen_Übersicht ✓"},
		"InvalidByte":       {"\xff", "\uFFFD"},
		"InvalidInside":     {"a\xffb\xc3", "a\uFFFDb\uFFFD"},
		"Surrogate":         {"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		"Controls":          {"a\nb\x00c\x7f\u0085", "a\uFFFDb\uFFFDc\uFFFD\uFFFD"},
		"RealReplacement":   {"\uFFFD", "\uFFFD"},
		"AtTheBound":        {long[:MaxLen], long[:MaxLen]},
		"OverTheBound":      {long, long[:MaxLen-len("…")] + "…"},
		"OverWithMultibyte": {strings.Repeat("é", MaxLen), strings.Repeat("é", (MaxLen-len("…"))/2) + "…"},
		"GrowsPastBound":    {strings.Repeat("\xff", MaxLen), strings.Repeat("\uFFFD", (MaxLen-len("…"))/3) + "…"},
	} {
		got := Safe(c.in)
		if got != c.want {
			t.Errorf("%s: Safe(%q) = %q, want %q", name, c.in, got, c.want)
		}
		if !utf8.ValidString(got) || len(got) > MaxLen {
			t.Errorf("%s: Safe(%q) = %q: not valid UTF-8 of at most %d bytes", name, c.in, got, MaxLen)
		}
	}
}

func TestSafeKeepsASafeStringWithoutAllocating(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Safe("query_Me_Überall") }); n != 0 {
		t.Errorf("Safe allocated %v times for a safe string", n)
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "\xff", "Me", strings.Repeat("\xe2\x82", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		if !utf8.ValidString(got) || len(got) > MaxLen || !clean(got) {
			t.Fatalf("Safe(%q) = %q", s, got)
		}
		if len(s) <= MaxLen && clean(s) && got != s {
			t.Fatalf("Safe changed a safe string %q to %q", s, got)
		}
	})
}
