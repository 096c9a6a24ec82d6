package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphQLOverHTTPAudit runs the graphql-http audit suite (the npm
// package graphql-http, pinned in test/graphql-http) against the real
// handler and requires every MUST and every SHOULD audit to pass (GraphQL
// Yoga's result: MUST 13/13, SHOULD 23/23). It skips, saying why, when node
// or the installed package is missing: `npm ci --prefix test/graphql-http`
// installs it (.ci/run does).
func TestGraphQLOverHTTPAudit(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the graphql-http audit cannot run")
	}
	dir := filepath.Join(repoRoot, "test", "graphql-http")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-http", "package.json")); err != nil {
		t.Skip("graphql-http is not installed: run `npm ci --prefix test/graphql-http` to run the audit")
	}
	a := mustStartApp(t)
	ctx, cancel := processContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "audit.mjs", a.srv.URL+"/query")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node audit.mjs: %v\n%s", err, out)
	}
	var results []struct{ ID, Name, Status, Reason string }
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("audit output: %v: %s", err, out)
	}
	counts := map[string][2]int{} // level -> ok, all
	for _, r := range results {
		level := strings.Fields(r.Name)[0]
		c := counts[level]
		c[1]++
		if r.Status == "ok" {
			c[0]++
		} else if level == "MUST" || level == "SHOULD" {
			t.Errorf("%s %s: %s (%s)", r.ID, r.Name, r.Status, r.Reason)
		}
		counts[level] = c
	}
	t.Logf("graphql-http audit: MUST %d/%d, SHOULD %d/%d, MAY %d/%d", counts["MUST"][0], counts["MUST"][1],
		counts["SHOULD"][0], counts["SHOULD"][1], counts["MAY"][0], counts["MAY"][1])
	if counts["MUST"][1] == 0 || counts["SHOULD"][1] == 0 {
		t.Fatalf("the audit ran no MUST or SHOULD checks: %s", out)
	}
}
