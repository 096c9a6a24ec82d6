package domain

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// The GraphQL enums bound to domain types share one mapping: a value is
// stored in the legacy form ("fair-rotation", "conversions:write", "active")
// and shown as its GraphQL name (FAIR_ROTATION, CONVERSIONS_WRITE, ACTIVE):
// upper case, with '-' and ':' as '_'. Reading takes the exact GraphQL name of
// one of the type's values and nothing else.

var enumNameReplacer = strings.NewReplacer("-", "_", ":", "_")

// enumName is the GraphQL name of a stored enum value.
func enumName[T ~string](v T) string { return strings.ToUpper(enumNameReplacer.Replace(string(v))) }

// marshalEnum writes v's GraphQL name as a JSON string. Every answer writes
// enums (a `me` three), so the quoted names are kept once made: the values
// are the types' constants, and a store holding something else (a damaged
// document) adds at most maxQuotedEnums entries before names are made anew.
func marshalEnum[T ~string](w io.Writer, v T) {
	if q, ok := quotedEnums.Load(string(v)); ok {
		_, _ = io.WriteString(w, q.(string))
		return
	}
	q := quoteJSON(enumName(v))
	if quotedEnumCount.Load() < maxQuotedEnums {
		if _, loaded := quotedEnums.LoadOrStore(string(v), q); !loaded {
			quotedEnumCount.Add(1)
		}
	}
	_, _ = io.WriteString(w, q)
}

const maxQuotedEnums = 512

// quoteJSON is s as a JSON string. (strconv.Quote is Go's syntax: a damaged
// stored value with a control character would have broken the response.)
func quoteJSON(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

var (
	quotedEnums     sync.Map // stored value → its quoted GraphQL name
	quotedEnumCount atomic.Int64
)

// unmarshalEnum returns the value among values whose GraphQL name is v.
func unmarshalEnum[T ~string](v any, typeName string, values ...T) (T, error) {
	s, _ := v.(string)
	for _, val := range values {
		if enumName(val) == s {
			return val, nil
		}
	}
	return "", Errorf(EINVALID, "%q is not a valid %s", s, typeName)
}
