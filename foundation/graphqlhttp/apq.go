package graphqlhttp

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Codes of automatic persisted queries, as Apollo's clients and servers name
// them. They keep their code (they are not BAD_USER_INPUT): Apollo's
// persisted-query link acts on PERSISTED_QUERY_NOT_FOUND by sending the
// document with its hash.
const (
	errPersistedQueryNotFound     = "PERSISTED_QUERY_NOT_FOUND"
	errPersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
	errPersistedQueryHash         = "PERSISTED_QUERY_HASH_MISMATCH"
)

// DefaultPersistedQueryBytes bounds the automatic persisted queries kept
// (their text, plus 128 bytes an entry), least recently used first out.
const DefaultPersistedQueryBytes = 8 << 20

// persistedQueries is Apollo's automatic persisted queries protocol
// (extensions.persistedQuery {version: 1, sha256Hash}), over GET and POST:
//
//   - a request with the hash only is answered from the cache, or refused
//     with PERSISTED_QUERY_NOT_FOUND (status 200), and the client then sends
//     the document with its hash;
//   - a request with both has its hash checked against the document; the
//     document is remembered under the hash only once it has passed every
//     limit (operationLimits admits it), so a refused document is never kept.
//
// A document answered from the cache is then parsed, validated and priced
// like any other (the query cache makes that cheap): it passes the same
// limits pass.
//
// gqlgen's extension.AutomaticPersistedQueries is not used because it keeps
// a document as soon as its hash matches, before the limits run.
type persistedQueries struct {
	cache *textLRU
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = persistedQueries{}

func (persistedQueries) ExtensionName() string { return "AutomaticPersistedQueries" }

func (persistedQueries) Validate(graphql.ExecutableSchema) error { return nil }

func (p persistedQueries) MutateOperationParameters(ctx context.Context, raw *graphql.RawParams) *gqlerror.Error {
	ext, ok := raw.Extensions["persistedQuery"]
	if !ok || ext == nil {
		return nil
	}
	refuse := func(code, msg string) *gqlerror.Error {
		return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
	}
	m, ok := ext.(map[string]any)
	if !ok {
		return refuse(errPersistedQueryNotSupported, "extensions.persistedQuery must be an object {version: 1, sha256Hash}")
	}
	if v, _ := m["version"].(interface{ String() string }); v == nil || v.String() != "1" {
		return refuse(errPersistedQueryNotSupported, "PersistedQueryNotSupported: only version 1 of automatic persisted queries is supported")
	}
	hash, _ := m["sha256Hash"].(string)
	if !isSHA256Hex(hash) {
		return refuse(errPersistedQueryNotSupported, "extensions.persistedQuery.sha256Hash must be 64 lowercase hexadecimal digits")
	}
	if raw.Query == "" {
		q, ok := p.cache.get(hash)
		if !ok {
			// Apollo's links look for this message or this code.
			return refuse(errPersistedQueryNotFound, "PersistedQueryNotFound")
		}
		raw.Query = q
		return nil
	}
	sum := sha256.Sum256([]byte(raw.Query))
	if hex.EncodeToString(sum[:]) != hash {
		return refuse(errPersistedQueryHash, "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query")
	}
	if pd, ok := ctx.Value(pendingKey{}).(*pendingDoc); ok {
		pd.persistHash, pd.persistQuery = hash, raw.Query
	}
	return nil
}

// admit remembers the request's persisted query, once its limits passed.
func (p persistedQueries) admit(ctx context.Context) {
	if p.cache == nil {
		return
	}
	if pd, ok := ctx.Value(pendingKey{}).(*pendingDoc); ok && pd.persistHash != "" {
		p.cache.add(pd.persistHash, pd.persistQuery)
		pd.persistHash, pd.persistQuery = "", ""
	}
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// textLRU maps keys to texts within a bound on their bytes, least recently
// used out first.
type textLRU struct {
	maxBytes int64

	mu    sync.Mutex
	used  int64
	order *list.List // of *textEntry, most recently used first
	byKey map[string]*list.Element
}

type textEntry struct {
	key, text string
}

func newTextLRU(maxBytes int64) *textLRU {
	return &textLRU{maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

func entrySize(e *textEntry) int64 { return int64(len(e.key)+len(e.text)) + 128 }

func (c *textLRU) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return "", false
	}
	c.order.MoveToFront(el)
	return el.Value.(*textEntry).text, true
}

func (c *textLRU) add(key, text string) {
	e := &textEntry{key: key, text: text}
	if entrySize(e) > c.maxBytes/16 {
		return // one text may not crowd out the rest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(e)
	c.used += entrySize(e)
	for c.used > c.maxBytes {
		last := c.order.Back()
		old := last.Value.(*textEntry)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.used -= entrySize(old)
	}
}
