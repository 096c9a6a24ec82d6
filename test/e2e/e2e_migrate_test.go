package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"tally/projection"
	"tally/repository"
	"tally/server"
)

// TestMigrate is the way out of the embedded store, end to end: a server on
// the embedded file store is filled through the API and stopped; `tally
// migrate --to $MONGODB_URI` is interrupted after its first batch and run
// again; then reconcile finds nothing to repair on the target and a server
// started on it (MONGODB_URI, and the embedded server's JWT secret) answers
// `me` and the campaign's totals as before, to the first server's tokens.
func TestMigrate(t *testing.T) {
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("MONGODB_URI is not set: migrate needs a MongoDB deployment to migrate into")
	}
	dir := t.TempDir()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	db := "tally_test_migrate_" + hex.EncodeToString(b) // the same MONGODB_DATABASE on both sides, as in production
	// Its campaign URLs are example.com, which need not resolve here.
	embedded := map[string]string{"DATA_DIR": dir, "MONGODB_DATABASE": db, "ALLOW_PRIVATE_URLS": "true"}
	first, stop := mustStartConfiguredApp(t, embedded)
	brand := first.mustSignUp("BRAND")
	streamer := first.mustSignUp("STREAMER")
	c := first.mustActiveCampaign(brand, "Moving")
	tok := token(t, first.mustJoin(streamer, c.ID))
	key, _ := first.mustAPIKey(brand)
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		first.mustClick(tok, id)
	}
	mustOK(t, first.doWithKey(key, recordConversionMutation, conversionVars("m1", "signup")))
	var me meData
	first.mustDo(streamer.Token, meQuery, nil, &me)
	totals := first.totals(brand, c.ID)
	stop()

	t.Cleanup(func() {
		ctx := context.Background()
		if s, err := repository.Open(ctx, repository.Options{URI: uri, Database: db}); err == nil {
			_ = s.Drop(ctx)
			_ = s.Close(ctx)
		}
	})
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	source := env(map[string]string{"DATA_DIR": dir, "MONGODB_DATABASE": db})

	t.Run("ErrWithoutTo", func(t *testing.T) {
		if err := server.Run(context.Background(), []string{"migrate"}, source, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("got %v, want the usage", err)
		}
	})
	t.Run("ErrOtherDatabase", func(t *testing.T) {
		// Nothing is stored under that name in DATA_DIR: refused, not an empty success.
		other := env(map[string]string{"DATA_DIR": dir, "MONGODB_DATABASE": db + "_other"})
		if err := server.Run(context.Background(), []string{"migrate", "--to", uri}, other, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "holds nothing") {
			t.Errorf("got %v, want a refusal naming the empty database", err)
		}
	})

	// Interrupted: the context ends as the first collection's batch is
	// reported, so later collections are not copied.
	ctx, cancel := context.WithCancel(context.Background())
	interrupted := &cancelOnWrite{cancel: cancel}
	if err := server.Run(ctx, []string{"migrate", "--to", uri}, source, interrupted); err == nil {
		t.Fatalf("the interrupted run succeeded:\n%s", interrupted.String())
	}

	var out bytes.Buffer
	if err := server.Run(context.Background(), []string{"migrate", "--to", uri}, source, &out); err != nil {
		t.Fatalf("migrate again: %v\n%s", err, out.String())
	}
	for _, coll := range []string{"users", "campaigns", "participations", "clicks", "conversions", "api_keys", "daily_stats"} {
		if !strings.Contains(out.String(), "verified "+coll) {
			t.Errorf("no verified count for %s:\n%s", coll, out.String())
		}
	}
	if strings.Contains(out.String(), "MISMATCH") {
		t.Errorf("counts differ:\n%s", out.String())
	}
	// A third run changes nothing and still verifies.
	out.Reset()
	if err := server.Run(context.Background(), []string{"migrate", "-to=" + uri}, source, &out); err != nil {
		t.Fatalf("migrate a third time: %v\n%s", err, out.String())
	}

	secret, err := os.ReadFile(filepath.Join(dir, "jwt_secret"))
	if err != nil {
		t.Fatal(err)
	}
	target := map[string]string{"MONGODB_URI": uri, "MONGODB_DATABASE": db, "JWT_SECRET": strings.TrimSpace(string(secret))}

	t.Run("VerifyFindsNoDrift", func(t *testing.T) {
		var report bytes.Buffer
		if err := server.Run(context.Background(), []string{"verify"}, env(target), &report); err != nil {
			t.Fatalf("%v\n%s", err, report.String())
		}
		s, err := repository.Open(context.Background(), repository.Options{URI: uri, Database: db})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		rep, err := projection.Verify(context.Background(), repository.NewProjection(s))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Events != 5 || rep.Pending != 0 {
			t.Errorf("verify on the target: %d events (want 5), %d pending (want 0), drift:\n%s", rep.Events, rep.Pending, strings.Join(rep.Drift, "\n"))
		}
	})

	t.Run("MeAnswersAsBefore", func(t *testing.T) {
		second, _ := mustStartConfiguredApp(t, target)
		var after meData
		second.mustDo(streamer.Token, meQuery, nil, &after)
		if !reflect.DeepEqual(after, me) {
			t.Errorf("me on the target:\n got %+v\nwant %+v", after, me)
		}
		if got := second.totals(brand, c.ID); !reflect.DeepEqual(got, totals) {
			t.Errorf("totals on the target:\n got %+v\nwant %+v", got, totals)
		}
		// The unique indexes came first: a repeated click is still no new one.
		if p := second.mustClick(tok, "m2"); p.RecordClick.IsNew {
			t.Error("a migrated click id recorded again as new")
		}
	})
}

// cancelOnWrite cancels its context at the first progress line of a copied
// batch, as an operator's Ctrl-C would.
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel func()
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if bytes.Contains(p, []byte(" / ")) {
		w.cancel()
	}
	return w.buf.Write(p)
}

func (w *cancelOnWrite) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
