package graphqlhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// completeResponse drains what @defer left to come and merges it into the
// initial response, for a client that did not ask for incremental delivery
// (application/json, application/graphql-response+json): @defer is a hint,
// and such a client must still get every field it selected, in one answer.
// (gqlgen's own POST transport answers the initial payload alone: the
// deferred fields stay null.) Each later payload's data is merged into the
// object at its path, key by key, in place, so fields keep the selection's
// order; its errors are added.
func completeResponse(ctx context.Context, first *graphql.Response, next graphql.ResponseHandler) *graphql.Response {
	for more := first.HasNext != nil && *first.HasNext; more; {
		r := next(ctx)
		if r == nil {
			break
		}
		more = r.HasNext != nil && *r.HasNext
		first.Errors = append(first.Errors, r.Errors...)
		if len(r.Data) == 0 || bytes.Equal(r.Data, []byte("null")) {
			continue
		}
		if merged, err := mergeAt(first.Data, r.Path, r.Data); err == nil {
			first.Data = merged
		}
	}
	first.HasNext = nil
	return first
}

// mergeAt returns doc with the object at path given patch's keys (each
// replacing the key of that name where there is one, appended where not).
// A path that leads nowhere (its parent was nulled by an error) leaves doc
// as it is.
func mergeAt(doc json.RawMessage, path ast.Path, patch json.RawMessage) (json.RawMessage, error) {
	if len(path) == 0 {
		return mergeObject(doc, patch)
	}
	switch step := path[0].(type) {
	case ast.PathName:
		kvs, err := objectKVs(doc)
		if err != nil {
			return nil, err
		}
		for i := range kvs {
			if kvs[i].key == string(step) {
				v, err := mergeAt(kvs[i].val, path[1:], patch)
				if err != nil {
					return nil, err
				}
				kvs[i].val = v
				return encodeObject(kvs), nil
			}
		}
		return doc, nil
	case ast.PathIndex:
		var items []json.RawMessage
		if err := json.Unmarshal(doc, &items); err != nil {
			return nil, err
		}
		if int(step) < 0 || int(step) >= len(items) {
			return doc, nil
		}
		v, err := mergeAt(items[step], path[1:], patch)
		if err != nil {
			return nil, err
		}
		items[step] = v
		return json.Marshal(items)
	}
	return nil, errors.New("unknown path element")
}

type kv struct {
	key string
	val json.RawMessage
}

func mergeObject(doc, patch json.RawMessage) (json.RawMessage, error) {
	kvs, err := objectKVs(doc)
	if err != nil {
		return nil, err
	}
	add, err := objectKVs(patch)
	if err != nil {
		return nil, err
	}
	for _, a := range add {
		found := false
		for i := range kvs {
			if kvs[i].key == a.key {
				kvs[i].val, found = a.val, true
				break
			}
		}
		if !found {
			kvs = append(kvs, a)
		}
	}
	return encodeObject(kvs), nil
}

// objectKVs is a JSON object's members in order.
func objectKVs(raw json.RawMessage) ([]kv, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var kvs []kv
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		kvs = append(kvs, kv{key, v})
	}
	return kvs, nil
}

func encodeObject(kvs []kv) json.RawMessage {
	b := []byte{'{'}
	for i, m := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, m.key) // keys are GraphQL names: [_A-Za-z][_0-9A-Za-z]*
		b = append(b, ':')
		b = append(b, m.val...)
	}
	return append(b, '}')
}
