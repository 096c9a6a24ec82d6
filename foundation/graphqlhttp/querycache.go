package graphqlhttp

import (
	"container/list"
	"context"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"
)

// queryCache keeps parsed and validated documents, keyed by their text, so a
// repeated query skips parsing and validation. It differs from gqlgen's LRU
// in two ways that matter under attack:
//
//   - gqlgen adds a document as soon as it validates, before the depth and
//     complexity limits run. Here Add only notes the document in the
//     request's context; operationLimits admits it once every limit passed.
//     A refused document is never kept.
//   - it is bounded in bytes, not entries: a document is charged
//     docBytesPerByte times its text (what a parsed AST takes, measured
//     roughly), and the least recently used go when the bound is reached.
type queryCache struct {
	maxBytes int64

	mu    sync.Mutex
	used  int64
	order *list.List // of *cacheEntry, most recently used first
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key  string
	doc  *ast.QueryDocument
	size int64
}

// docBytesPerByte is how much heap a parsed document takes per byte of its
// text, with room to spare (gqlparser keeps the source, and every token
// becomes a node with its position).
const docBytesPerByte = 32

func newQueryCache(maxBytes int64) *queryCache {
	return &queryCache{maxBytes: maxBytes, order: list.New(), byKey: map[string]*list.Element{}}
}

type pendingKey struct{}

// pendingDoc is a request's parsed document waiting for the limits to pass.
type pendingDoc struct {
	key string
	doc *ast.QueryDocument
	// persistHash and persistQuery are an automatic persisted query waiting
	// for the same limits.
	persistHash, persistQuery string
}

// Get returns the cached document of query.
func (q *queryCache) Get(_ context.Context, key string) (*ast.QueryDocument, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	el, ok := q.byKey[key]
	if !ok {
		return nil, false
	}
	q.order.MoveToFront(el)
	return el.Value.(*cacheEntry).doc, true
}

// has reports whether query is cached, without touching its recency.
func (q *queryCache) has(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.byKey[key]
	return ok
}

// Add is called by gqlgen once a document validated; it is kept only when
// the request's limits pass (admit).
func (q *queryCache) Add(ctx context.Context, key string, doc *ast.QueryDocument) {
	if p, ok := ctx.Value(pendingKey{}).(*pendingDoc); ok {
		p.key, p.doc = key, doc
	}
}

// admit caches the request's pending document, if any.
func (q *queryCache) admit(ctx context.Context) {
	p, ok := ctx.Value(pendingKey{}).(*pendingDoc)
	if !ok || p.doc == nil {
		return
	}
	size := int64(len(p.key))*docBytesPerByte + 512
	if size > q.maxBytes/16 {
		return // one document may not crowd out the rest
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.byKey[p.key]; ok {
		return
	}
	q.byKey[p.key] = q.order.PushFront(&cacheEntry{key: p.key, doc: p.doc, size: size})
	q.used += size
	for q.used > q.maxBytes {
		last := q.order.Back()
		e := last.Value.(*cacheEntry)
		q.order.Remove(last)
		delete(q.byKey, e.key)
		q.used -= e.size
	}
	p.doc = nil
}
