package domain

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestMarshalEnum: an enum is written as its GraphQL name, the second time
// from the cache as the first; a damaged stored value still gives valid JSON.
func TestMarshalEnum(t *testing.T) {
	for range 2 {
		var b bytes.Buffer
		StrategyFairRotation.MarshalGQL(&b)
		if b.String() != `"FAIR_ROTATION"` {
			t.Fatalf("FairRotation wrote %s", b.String())
		}
	}
	var b bytes.Buffer
	Strategy("a\x7fb\"c\x01").MarshalGQL(&b)
	var s string
	if err := json.Unmarshal(b.Bytes(), &s); err != nil || s != "A\x7fB\"C\x01" {
		t.Fatalf("a damaged value wrote %q: %v, %q", b.String(), err, s)
	}
}
