package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNpmClients runs Apollo Client 4's PersistedQueryLink and
// BatchHttpLink and graphql-request's batchRequests (test/graphql-http,
// pinned in its lockfile) against the real handler. It skips, saying why,
// when node or the packages are missing: `npm ci --prefix test/graphql-http`.
func TestNpmClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the npm clients cannot run")
	}
	dir := filepath.Join(repoRoot, "test", "graphql-http")
	for _, pkg := range []string{"@apollo/client", "graphql-request"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			t.Skipf("%s is not installed: run `npm ci --prefix test/graphql-http`", pkg)
		}
	}
	a := mustStartApp(t)
	u := a.mustSignUp("STREAMER")
	ctx, cancel := processContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs", a.srv.URL+"/query", u.Token)
	cmd.Dir = dir
	raw, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node clients.mjs: %v\n%s\n%s", err, raw, stderr)
	}
	type req struct {
		Method string
		Status int
		Batch  bool
	}
	var out struct {
		APQ1, APQ2 struct {
			Email    string
			Requests []req
		}
		Batch struct {
			A, B     string
			Requests []req
		}
		GraphQLRequest struct {
			Results  []map[string]any
			Requests []req
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("%s", raw)
	// The first query: its hash by GET (PERSISTED_QUERY_NOT_FOUND), then the
	// document with its hash; the second client: the hash alone.
	if out.APQ1.Email != u.Email || len(out.APQ1.Requests) != 2 || out.APQ1.Requests[0].Method != "GET" {
		t.Errorf("persisted query, first: %+v", out.APQ1)
	}
	if out.APQ2.Email != u.Email || len(out.APQ2.Requests) != 1 || out.APQ2.Requests[0].Method != "GET" {
		t.Errorf("persisted query, second: want one GET by hash, got %+v", out.APQ2)
	}
	if out.Batch.A != u.Email || out.Batch.B != "Query" || len(out.Batch.Requests) != 1 || !out.Batch.Requests[0].Batch {
		t.Errorf("BatchHttpLink: want both answers from one batched request, got %+v", out.Batch)
	}
	if len(out.GraphQLRequest.Results) != 2 || len(out.GraphQLRequest.Requests) != 1 || !out.GraphQLRequest.Requests[0].Batch {
		t.Errorf("graphql-request batchRequests: %+v", out.GraphQLRequest)
	}
}
