package domain

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Micros
	}{
		{"0", 0},
		{"100", 100 * MicrosPerUnit},
		{"2.50", 2_500_000},
		{"2.5", 2_500_000},
		{"0.000001", 1},
		{"1.234567", 1_234_567},
		{" 3.00 ", 3_000_000},
		{"007.1", 7_100_000},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDecimal(tc.in)
			if err != nil {
				t.Fatalf("ParseDecimal(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseDecimal(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseDecimalErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in string }{
		{"Empty", ""},
		{"Blank", "   "},
		{"Negative", "-1.00"},
		{"NegativeZero", "-0"},
		{"TwoPoints", "1.2.3"},
		{"NoWholePart", ".5"},
		{"NoFraction", "5."},
		{"Letters", "12a"},
		{"Exponent", "1e-7"},
		{"Plus", "+1"},
		{"Comma", "1,50"},
		{"SevenFractionDigits", "0.0000001"},
		{"TooLarge", "9223372036854"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseDecimal(tc.in); err == nil {
				t.Errorf("ParseDecimal(%q) = %d, want an error", tc.in, got)
			}
		})
	}
}

func TestMicrosString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   Micros
		want string
	}{
		{0, "0.00"},
		{1, "0.000001"},
		{2_500_000, "2.50"},
		{1_234_567, "1.234567"},
		{1_230_000, "1.23"},
		{1_200_000, "1.20"},
		{100 * MicrosPerUnit, "100.00"},
		{-500_000, "-0.50"},
		{-1, "-0.000001"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Micros(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
			}
		})
	}
}

// Every amount a client may send reads back as itself, formatted.
func TestMicrosRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"0.00", "0.000001", "2.50", "1.234567", "46.4975", "9223372036.854775"} {
		m, err := ParseDecimal(s)
		if err != nil {
			t.Fatalf("ParseDecimal(%q): %v", s, err)
		}
		if got := m.String(); got != s {
			t.Errorf("ParseDecimal(%q).String() = %q", s, got)
		}
	}
}

func TestMicrosGQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   any
		want Micros
	}{
		{"String", "2.50", 2_500_000},
		{"JSONNumber", json.Number("0.25"), 250_000},
		{"Int", 3, 3_000_000},
		{"Int64", int64(4), 4_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Micros
			if err := m.UnmarshalGQL(tc.in); err != nil {
				t.Fatalf("UnmarshalGQL(%#v): %v", tc.in, err)
			}
			if m != tc.want {
				t.Errorf("UnmarshalGQL(%#v) = %d, want %d", tc.in, m, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   any
	}{
		{"Float", 0.25},
		{"Exponent", json.Number("1e-7")},
		{"Negative", "-1"},
		{"Bool", true},
		{"Nil", nil},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			var m Micros
			err := m.UnmarshalGQL(tc.in)
			if got := ErrorCode(err); got != EINVALID {
				t.Errorf("UnmarshalGQL(%#v): code %q, want %s (err %v)", tc.in, got, EINVALID, err)
			}
		})
	}
	t.Run("Marshal", func(t *testing.T) {
		var b bytes.Buffer
		Micros(2_500_000).MarshalGQL(&b)
		if got, want := b.String(), `"2.50"`; got != want {
			t.Errorf("MarshalGQL = %s, want %s", got, want)
		}
	})
}

func TestImpressionCost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cpm, want Micros
	}{
		{2_500_000, 2_500}, // 2.50 per 1000: 0.0025 each
		{1_000, 1},         // 0.001 per 1000: one micro each
		{999, 0},           // below 0.001 bills nothing
		{1_999, 1},         // rounded down
		{0, 0},
	} {
		if got := ImpressionCost(tc.cpm); got != tc.want {
			t.Errorf("ImpressionCost(%s) = %s, want %s", tc.cpm, got, tc.want)
		}
	}
}
