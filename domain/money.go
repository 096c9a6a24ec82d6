package domain

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Micros is an amount of money in micro-units of the platform currency:
// 1 unit = 1,000,000 micros. Money is never a float anywhere it is computed.
// In GraphQL it is the Decimal scalar, a string such as "2.50".
type Micros int64

// MicrosPerUnit is how many micros make one currency unit.
const MicrosPerUnit = 1_000_000

// The sane bounds of the amounts a person sets. With them no total Tally
// keeps can overflow int64 micros (about 9.2 trillion units) short of some
// nine thousand maximal budgets spent in full for one streamer in one day;
// AddMicros still checks every sum the projector makes.
const (
	MaxBudget Micros = 1_000_000_000 * MicrosPerUnit // a campaign's budget: one billion units
	MaxPrice  Micros = 1_000_000 * MicrosPerUnit     // a cpm, cpc or goal payout: one million units
)

// AddMicros returns a+b, and false when the sum would overflow int64.
func AddMicros(a, b Micros) (Micros, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// ParseDecimal parses a non-negative decimal string with at most 6 fraction
// digits ("2.50", "0.000001", "100") into micros.
func ParseDecimal(s string) (Micros, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("a decimal amount is required, such as \"2.50\"")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative; amounts must be zero or more", s)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a decimal amount such as \"2.50\"", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than 6 digits after the point", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/MicrosPerUnit-1 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return Micros(w*MicrosPerUnit + f), nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String formats m with at least two fraction digits and no trailing zeros
// beyond them: 2500000 → "2.50", 1234567 → "1.234567", -500000 → "-0.50".
func (m Micros) String() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-m)
	}
	frac := fmt.Sprintf("%06d", u%MicrosPerUnit)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, u/MicrosPerUnit, frac)
}

// MarshalGQL writes the Decimal string.
func (m Micros) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(m.String())) }

// UnmarshalGQL reads a Decimal: a string (preferred), or a JSON number whose
// literal text is a plain decimal (it is parsed as text, never through a
// float). Exponents and anything else are refused.
func (m *Micros) UnmarshalGQL(v any) error {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return Errorf(EINVALID, "a Decimal is a string such as \"2.50\"")
	}
	parsed, err := ParseDecimal(s)
	if err != nil {
		return Errorf(EINVALID, "%s", err.Error())
	}
	*m = parsed
	return nil
}
