// Package repository is all of Tally's MongoDB access: one file per
// collection, each declaring the indexes its queries rely on beside them.
//
// It is written once against lungo's driver-shaped interfaces, which wrap either
// the real MongoDB driver (MONGODB_URI set) or the embedded engine (a file store
// under DATA_DIR, or memory in tests). Only operations both engines accept are
// used: no aggregation, no $expr, no $regex, no collation.
package repository

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// Options says which store to open.
type Options struct {
	// URI of a MongoDB deployment; empty opens the embedded engine.
	URI string
	// Database name on MongoDB (and the embedded engine).
	Database string
	// DataDir holds the embedded engine's file and its lock; ignored with URI.
	DataDir string
	// Memory opens the embedded engine without a file (tests).
	Memory bool
	// Fault, when set, fails store operations on purpose (tests; see Fault).
	Fault Fault
}

// Store is an open database: MongoDB or the embedded engine.
type Store struct {
	client    lungo.IClient
	db        lungo.IDatabase
	engine    *lungo.Engine // nil on MongoDB
	unlock    func()
	calls     atomic.Int64 // operations of the request-side repositories
	projCalls atomic.Int64 // operations of the projector
	sendCalls atomic.Int64 // operations of the postback sender (and its writes)
	sendWrite atomic.Int64
	monCalls  atomic.Int64 // reads of the backlog monitor
	writes    atomic.Int64 // write operations of either
	commands  atomic.Int64 // on MongoDB: commands the driver sent to the database
	fault     Fault        // Options.Fault; nil in production
	embedded  bool
	file      string // the embedded file store's file; "" in memory and on MongoDB
	keys      keyLocks
	// parts is the number of projection partitions this database is
	// projected in, once the projector's Setup has read it (0 before): a new
	// event is stored with its partition (see recordOnce).
	parts atomic.Int64
	// requestWrites, on the embedded engine, lets only a few request-side
	// writes queue for its one write lock at a time, so that the
	// projector's writes (which do not take it) wait behind those few and
	// not behind every request in flight: projection keeps up under load.
	requestWrites chan struct{}
	users         *userCache // users by id, on the embedded store only (see userCache)
}

// requestWriteSlots is how many request-side writes may wait for the
// embedded engine's write lock at once.
const requestWriteSlots = 2

// Fault, given in Options, is called before (after false) and after
// (after true) every attempt of every store operation; an error it returns
// is that operation's result, as if the store had failed — before the
// operation ran, or after it landed (a timeout that hides a success). Tests
// use it to fail the k-th call of a path; production never sets one.
type Fault func(op string, after bool) error

// Open opens the store described by opts. On the embedded file store it takes
// an exclusive lock in DataDir first and refuses to open a directory another
// process serves from.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Database == "" {
		opts.Database = "tally"
	}
	s := &Store{unlock: func() {}, fault: opts.Fault}
	if opts.URI != "" {
		// The command monitor counts what really reaches the server (the
		// database's commands: not handshakes, heartbeats or session
		// bookkeeping), so tests can check the repository's own count.
		database := opts.Database
		monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.DatabaseName == database {
				s.commands.Add(1)
			}
		}}
		client, err := lungo.Connect(ctx, options.Client().ApplyURI(opts.URI).
			SetServerSelectionTimeout(10*time.Second).SetAppName("tally").SetMonitor(monitor))
		if err != nil {
			return nil, fmt.Errorf("connect to MongoDB: %w", err)
		}
		s.client = client
	} else {
		var store lungo.Store = lungo.NewMemoryStore()
		if !opts.Memory {
			if opts.DataDir == "" {
				return nil, errors.New("DATA_DIR is empty")
			}
			if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("create DATA_DIR: %w", err)
			}
			unlock, err := lockDir(opts.DataDir)
			if err != nil {
				return nil, err
			}
			s.unlock = unlock
			s.file = filepath.Join(opts.DataDir, DataFile)
			if fi, err := os.Stat(s.file); err == nil && fi.Size() == 0 {
				// lungo would say only EOF.
				s.unlock()
				return nil, fmt.Errorf("open embedded store: %s is empty (0 bytes), so it cannot be read: "+
					"restore it from a backup, or delete it to start with an empty store", s.file)
			}
			store = newFileStore(s.file)
		}
		client, engine, err := lungo.Open(ctx, embeddedOptions(store))
		if err != nil {
			s.unlock()
			if s.file != "" {
				return nil, fmt.Errorf("open embedded store %s: %w (if the file is damaged, restore it from a backup)", s.file, err)
			}
			return nil, fmt.Errorf("open embedded store: %w", err)
		}
		s.client, s.engine, s.embedded = client, engine, true
		s.requestWrites = make(chan struct{}, requestWriteSlots)
		s.users = newUserCache()
	}
	s.db = s.client.Database(opts.Database)
	return s, nil
}

// Ping checks that the store answers; /readyz uses it. The embedded
// client's Ping always succeeds, even once the engine is closed, so on the
// embedded engine it takes a read snapshot instead (unlocked: nothing to
// release), which fails once the engine is closed.
func (s *Store) Ping(ctx context.Context) error {
	if s.engine != nil {
		if _, err := s.engine.Begin(ctx, false); err != nil {
			return fmt.Errorf("embedded store: %w", err)
		}
		return nil
	}
	return s.client.Ping(ctx, readpref.Primary())
}

// Close disconnects from MongoDB or closes the embedded engine and releases
// the data directory's lock.
func (s *Store) Close(ctx context.Context) error {
	err := s.client.Disconnect(ctx)
	if s.engine != nil {
		s.engine.Close()
	}
	s.unlock()
	return err
}

// Drop deletes the whole database. Tests on MongoDB use it to clean up.
func (s *Store) Drop(ctx context.Context) error { return s.db.Drop(ctx) }

// Calls returns how many store operations the repositories have issued so far.
// Tests use it to count round trips of a request.
func (s *Store) Calls() int64 { return s.calls.Load() }

// ProjectorCalls returns how many store operations the projector has issued.
func (s *Store) ProjectorCalls() int64 { return s.projCalls.Load() }

// Writes returns how many write operations (inserts, updates, bulk writes)
// have been issued, by requests and the projector together.
func (s *Store) Writes() int64 { return s.writes.Load() }

// Embedded reports whether this is the embedded engine, which only one
// process can open.
func (s *Store) Embedded() bool { return s.embedded }

// ServerCommands returns how many commands the driver has sent to the
// database, as its command monitor saw them; ok is false on the embedded
// engine, which has no wire protocol to watch.
func (s *Store) ServerCommands() (n int64, ok bool) { return s.commands.Load(), !s.embedded }

// collection returns a named collection whose operations are counted in Calls
// and retried on transient conflicts.
func (s *Store) collection(name string) *collection {
	return &collection{c: s.db.Collection(name), calls: &s.calls, writes: &s.writes, fault: s.fault, embedded: s.embedded, keys: &s.keys,
		gate: s.requestWrites, parts: &s.parts}
}

// projectorCollection is collection for the projector: its operations are
// counted in ProjectorCalls instead of Calls.
func (s *Store) projectorCollection(name string) *collection {
	return &collection{c: s.db.Collection(name), calls: &s.projCalls, writes: &s.writes, fault: s.fault, embedded: s.embedded, keys: &s.keys, parts: &s.parts}
}

// senderCollection is collection for the postback sender: its operations
// and writes are counted apart (SenderCalls), so that its polling never
// shows in the requests' or the projector's counts.
func (s *Store) senderCollection(name string) *collection {
	return &collection{c: s.db.Collection(name), calls: &s.sendCalls, writes: &s.sendWrite, fault: s.fault, embedded: s.embedded}
}

// monitorCollection is collection for the backlog monitor: reads counted
// apart (MonitorCalls), so that every process's periodic look at the
// backlog never shows in the requests' or the projector's counts.
func (s *Store) monitorCollection(name string) *collection {
	return &collection{c: s.db.Collection(name), calls: &s.monCalls, writes: &s.writes, fault: s.fault, embedded: s.embedded}
}

// MonitorCalls returns how many store operations the backlog monitor has
// issued.
func (s *Store) MonitorCalls() int64 { return s.monCalls.Load() }

// SenderCalls returns how many store operations the postback sender has
// issued.
func (s *Store) SenderCalls() int64 { return s.sendCalls.Load() }

// collection is the one door of the repositories to the store: every
// operation passes through it, is counted in Calls (one per attempt: each is
// a round trip), and a transient conflict (retryTransient) is run again,
// within a bound, before it becomes SERVICE_UNAVAILABLE. It offers only the
// operations the repositories use; a new one is added here, so that nothing
// bypasses the count or the retry.
type collection struct {
	c        lungo.ICollection
	calls    *atomic.Int64
	writes   *atomic.Int64
	fault    Fault
	embedded bool          // the embedded engine, where any matched write is a full commit
	gate     chan struct{} // request-side writes on the embedded engine: see Store.requestWrites
	keys     *keyLocks
	parts    *atomic.Int64 // Store.parts, for the events' partition
}

// Name is the collection's name.
func (c *collection) Name() string { return c.c.Name() }

func (c *collection) FindOne(ctx context.Context, filter any, opts ...*options.FindOneOptions) lungo.ISingleResult {
	return c.single(ctx, "find", func() lungo.ISingleResult { return c.c.FindOne(ctx, filter, opts...) })
}

func (c *collection) FindOneAndUpdate(ctx context.Context, filter, update any, opts ...*options.FindOneAndUpdateOptions) lungo.ISingleResult {
	return c.single(ctx, "findAndModify", func() lungo.ISingleResult { return c.c.FindOneAndUpdate(ctx, filter, update, opts...) })
}

func (c *collection) Find(ctx context.Context, filter any, opts ...*options.FindOptions) (cur lungo.ICursor, err error) {
	err = c.retry(ctx, "find", func() (err error) { cur, err = c.c.Find(ctx, filter, opts...); return err })
	return cur, err
}

func (c *collection) InsertOne(ctx context.Context, doc any, opts ...*options.InsertOneOptions) (res *mongo.InsertOneResult, err error) {
	err = c.retry(ctx, "insert", func() (err error) { res, err = c.c.InsertOne(ctx, doc, opts...); return err })
	return res, err
}

func (c *collection) UpdateOne(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (res *mongo.UpdateResult, err error) {
	err = c.retry(ctx, "update", func() (err error) { res, err = c.c.UpdateOne(ctx, filter, update, opts...); return err })
	return res, err
}

func (c *collection) UpdateMany(ctx context.Context, filter, update any, opts ...*options.UpdateOptions) (res *mongo.UpdateResult, err error) {
	err = c.retry(ctx, "updateMany", func() (err error) { res, err = c.c.UpdateMany(ctx, filter, update, opts...); return err })
	return res, err
}

func (c *collection) DeleteOne(ctx context.Context, filter any, opts ...*options.DeleteOptions) (res *mongo.DeleteResult, err error) {
	err = c.retry(ctx, "delete", func() (err error) { res, err = c.c.DeleteOne(ctx, filter, opts...); return err })
	return res, err
}

func (c *collection) DeleteMany(ctx context.Context, filter any, opts ...*options.DeleteOptions) (res *mongo.DeleteResult, err error) {
	err = c.retry(ctx, "deleteMany", func() (err error) { res, err = c.c.DeleteMany(ctx, filter, opts...); return err })
	return res, err
}

func (c *collection) CountDocuments(ctx context.Context, filter any, opts ...*options.CountOptions) (n int64, err error) {
	err = c.retry(ctx, "count", func() (err error) { n, err = c.c.CountDocuments(ctx, filter, opts...); return err })
	return n, err
}

// BulkWrite runs models; on a transient conflict it runs again only the
// writes that were not applied: an ordered bulk from its first failed write
// on, an unordered one its failed writes. A transient error that does not say
// which writes failed is not retried (some may have been applied) and is
// SERVICE_UNAVAILABLE at once. The result's counts are summed over the
// attempts.
func (c *collection) BulkWrite(ctx context.Context, models []mongo.WriteModel, opts ...*options.BulkWriteOptions) (*mongo.BulkWriteResult, error) {
	total := &mongo.BulkWriteResult{}
	ordered := true
	for _, o := range opts {
		if o != nil && o.Ordered != nil {
			ordered = *o.Ordered
		}
	}
	for attempt := 1; ; attempt++ {
		var res *mongo.BulkWriteResult
		err := c.attempt("bulkWrite", func() (err error) { res, err = c.c.BulkWrite(ctx, models, opts...); return err })
		if res != nil {
			total.InsertedCount += res.InsertedCount
			total.MatchedCount += res.MatchedCount
			total.ModifiedCount += res.ModifiedCount
			total.DeletedCount += res.DeletedCount
			total.UpsertedCount += res.UpsertedCount
		}
		if err == nil {
			return total, nil
		}
		var bwe mongo.BulkWriteException
		switch {
		case isUnreachable(err):
			return total, errUnavailable("bulkWrite", attempt, err)
		case !isTransient(err):
			return total, err
		case !errors.As(err, &bwe) || len(bwe.WriteErrors) == 0 || bwe.WriteConcernError != nil || attempt == transientAttempts:
			return total, errUnavailable("bulkWrite", attempt, err)
		}
		var again []mongo.WriteModel
		if ordered {
			again = models[bwe.WriteErrors[0].Index:]
		} else {
			for _, we := range bwe.WriteErrors {
				if !isTransient(mongo.WriteException{WriteErrors: []mongo.WriteError{we.WriteError}}) {
					return total, err // a real failure among them: the caller's to handle
				}
				again = append(again, models[we.Index])
			}
		}
		models = again
		if !backoff(ctx, attempt) {
			return total, errUnavailable("bulkWrite", attempt, err)
		}
	}
}

// retry runs one counted attempt of do after another under retryTransient.
func (c *collection) retry(ctx context.Context, op string, do func() error) error {
	return retryTransient(ctx, op, func() error { return c.attempt(op, do) })
}

// attempt counts one attempt of op and runs it, between the fault hook's
// two calls.
func (c *collection) attempt(op string, do func() error) error {
	c.calls.Add(1)
	if op != "find" && op != "count" {
		c.writes.Add(1)
		if c.gate != nil {
			c.gate <- struct{}{}
			defer func() { <-c.gate }()
		}
	}
	if c.fault != nil {
		if err := c.fault(op, false); err != nil {
			return err
		}
	}
	err := do()
	if c.fault != nil && err == nil {
		if ferr := c.fault(op, true); ferr != nil {
			return ferr
		}
	}
	return err
}

// single retries a single-document operation, whose error arrives with its
// result: no document is not an error here, the caller decides.
func (c *collection) single(ctx context.Context, op string, do func() lungo.ISingleResult) lungo.ISingleResult {
	var res lungo.ISingleResult
	err := c.retry(ctx, op, func() error {
		res = do()
		if err := res.Err(); err != nil && !isNoDocuments(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return failedResult{err}
	}
	return res
}

// failedResult is the result of a single-document operation that failed.
type failedResult struct{ err error }

func (r failedResult) Decode(any) error               { return r.err }
func (r failedResult) DecodeBytes() (bson.Raw, error) { return nil, r.err }
func (r failedResult) Err() error                     { return r.err }
func (r failedResult) Raw() (bson.Raw, error)         { return nil, r.err }

// EnsureIndexes creates every collection's indexes. It is idempotent: existing
// indexes with the same definition are left as they are.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for name, obsolete := range map[string][]string{clicksCollection: obsoleteClickIndexes, conversionsCollection: obsoleteConversionIndexes} {
		if err := s.dropIndexes(ctx, name, obsolete); err != nil {
			return err
		}
	}
	for name, obsolete := range obsoletePendingIndexes {
		if err := s.dropIndexes(ctx, name, obsolete); err != nil {
			return err
		}
	}
	for name, models := range s.indexes() {
		if len(models) == 0 {
			continue
		}
		if _, err := s.db.Collection(name).Indexes().CreateMany(ctx, models); err != nil {
			return fmt.Errorf("ensure indexes on %s: %w", name, err)
		}
	}
	return nil
}

// dropIndexes drops the named indexes of a collection that exist: indexes
// an older Tally created and this one replaced.
func (s *Store) dropIndexes(ctx context.Context, coll string, names []string) error {
	cur, err := s.db.Collection(coll).Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", coll, err)
	}
	var existing []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &existing); err != nil {
		return fmt.Errorf("list indexes of %s: %w", coll, err)
	}
	for _, e := range existing {
		if slices.Contains(names, e.Name) {
			if _, err := s.db.Collection(coll).Indexes().DropOne(ctx, e.Name); err != nil {
				return fmt.Errorf("drop the replaced index %s of %s: %w", e.Name, coll, err)
			}
		}
	}
	return nil
}

// indexes gathers the index declarations that live beside each collection's
// queries.
func (s *Store) indexes() map[string][]mongo.IndexModel {
	return map[string][]mongo.IndexModel{
		usersCollection:          userIndexes(),
		campaignsCollection:      campaignIndexes(),
		participationsCollection: participationIndexes(),
		clicksCollection:         clickIndexes(),
		conversionsCollection:    conversionIndexes(),
		dailyStatsCollection:     dailyStatsIndexes(),
		apiKeysCollection:        apiKeyIndexes(),
		slotsCollection:          slotIndexes(),
		impressionsCollection:    impressionIndexes(),
		projectorCollection:      nil,
		partitionsCollection:     nil,
		processesCollection:      nil,
		outboxCollection:         outboxIndexes(),
		clickFiltersCollection:   clickFilterIndexes(),
		rateLimitsCollection:     rateLimitIndexes(),
		capSpendCollection:       capSpendIndexes(),
		alertsCollection:         alertsIndexes(),
		earningsCollection:       earningIndexes(),
		releaseCountsCollection:  releaseCountIndexes(),
		payoutRunsCollection:     payoutRunIndexes(),
		payoutsCollection:        payoutIndexes(),
		reportBucketsCollection:  reportBucketIndexes(),
		reportSubsCollection:     reportSubsIndexes(),
	}
}

// SeedRaw inserts documents exactly as given, bypassing every rule of this
// package. It exists for tests that need documents as older systems wrote
// them; production code never calls it.
func SeedRaw(ctx context.Context, s *Store, coll string, docs ...any) error {
	_, err := s.db.Collection(coll).InsertMany(ctx, docs)
	return err
}

// UpdateRaw applies update to the documents of coll that filter matches,
// bypassing every rule of this package: tests damage data with it to check
// that verify finds and repairs the damage, or put a database in the state
// an older Tally left it in; production never calls it.
func UpdateRaw(ctx context.Context, s *Store, coll string, filter, update any) error {
	_, err := s.db.Collection(coll).UpdateMany(ctx, filter, update)
	return err
}

// DeleteRaw deletes the documents of coll that filter matches, bypassing
// every rule of this package (tests only, as UpdateRaw).
func DeleteRaw(ctx context.Context, s *Store, coll string, filter any) error {
	_, err := s.db.Collection(coll).DeleteMany(ctx, filter)
	return err
}

// SeedIndex creates an index exactly as given, bypassing the declarations:
// tests use it for indexes an older Tally created; production never calls it.
func SeedIndex(ctx context.Context, s *Store, coll, name string, unique bool, keys ...string) error {
	d := bson.D{}
	for _, k := range keys {
		d = append(d, bson.E{Key: k, Value: 1})
	}
	_, err := s.db.Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: d, Options: options.Index().SetName(name).SetUnique(unique)})
	return err
}

type indexModel = mongo.IndexModel

func uniqueIndex(name string, keys bson.D) indexModel {
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name).SetUnique(true)}
}

// partialUniqueIndex is a unique index on field over the documents where it
// is a string (design pattern 4): documents without it never collide.
func partialUniqueIndex(name, field string) indexModel {
	return mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}, Options: options.Index().SetName(name).SetUnique(true).
		SetPartialFilterExpression(bson.M{field: bson.M{"$type": "string"}})}
}

func plainIndex(name string, keys bson.D) indexModel {
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(name)}
}

// keyLocks are striped in-process locks on natural keys. recordOnce holds
// one around its upsert so that this process's concurrent upserts of one new
// key take turns instead of racing into the store: on FerretDB concurrent
// inserts of one key deadlock in PostgreSQL's exclusion constraint check
// (each waits for the other's uncommitted row, 1 s until the deadlock is
// detected), and a dozen racers on one key can deadlock again and again.
// Racers in other processes still meet in the store and are resolved there
// (duplicate key or transient retry); exactness never depends on the lock.
type keyLocks [256]sync.Mutex

// lock locks the stripe of key in collection and returns its unlock.
func (l *keyLocks) lock(collection string, key bson.M) func() {
	fields := make([]string, 0, len(key))
	for k := range key {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	h := fnv.New32a()
	h.Write([]byte(collection))
	for _, k := range fields {
		fmt.Fprintf(h, "\x00%s=%v", k, key[k])
	}
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}
