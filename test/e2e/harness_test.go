// Package e2e holds Tally's system tests: each starts the real server — the
// configuration, store, services and HTTP handler server.New wires, as
// `tally` does — on a fresh store (the embedded engine in memory, or a
// database of its own on $MONGODB_URI) and talks to it over HTTP, as a
// client would. Some run the built binary or this test binary as a server
// process (TestMain). The harness is mustStartApp (e2e_helpers_test.go);
// tests wait for conditions with eventually, never for a fixed time.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tally/server"
)

// repoRoot is the repository's root, from this package's directory (where
// go test runs it): the README, docs/, schema/ and test/graphql-http.
const repoRoot = "../.."

// serveEnv, set in a test binary's environment, makes it the server: the
// crash tests start copies of this binary as real server processes
// (startServerProcess), so that they need no separate build.
const serveEnv = "TALLY_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		os.Args = []string{os.Args[0]}
		server.Main()
		return
	}
	code := m.Run()
	if tallyBinary.path != "" {
		_ = os.RemoveAll(filepath.Dir(tallyBinary.path))
	}
	os.Exit(code)
}

// waitTimeout is how long eventually waits: generous, because the suite
// must hold on a busy machine (other suites, builds and benchmarks on the
// same two cores). A condition that holds returns as soon as it does; the
// deadline only bounds how long a broken one takes to fail.
const waitTimeout = 2 * time.Minute

// eventually polls cond, quickly at first, until it reports true, and
// fails the test with the message (format and args, as t.Fatalf's) when
// it has not within waitTimeout. An arg that is a func() any is called
// when the message is written, so the message can show the last state
// cond saw. cond runs on the test's goroutine; it may call the test's
// helpers.
func eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for delay := time.Millisecond; !cond(); delay = min(2*delay, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			vals := make([]any, len(args))
			for i, a := range args {
				if f, ok := a.(func() any); ok {
					a = f()
				}
				vals[i] = a
			}
			t.Fatalf("not within %v: %s", waitTimeout, fmt.Sprintf(format, vals...))
		}
		time.Sleep(delay)
	}
}

// processContext is the context of a long external process a test waits
// for (Chromium, node): it ends with the test, or shortly before the test
// binary's own deadline (go test -timeout), so that a busy machine never
// fails the test by a clock of ours, and a hung process still reports
// its output before go test kills everything.
func processContext(t *testing.T) (context.Context, context.CancelFunc) {
	if deadline, ok := t.Deadline(); ok {
		return context.WithDeadline(t.Context(), deadline.Add(-30*time.Second))
	}
	return context.WithCancel(t.Context())
}

// waitHealthy waits until the server at base answers /healthz.
func waitHealthy(t testing.TB, base string) {
	t.Helper()
	var last error
	eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			last = err
			return false
		}
		resp.Body.Close()
		return true
	}, "the server at %s did not answer /healthz (last: %v)", base, func() any { return last })
}

var tallyBinary struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// mustBuildTally builds the tally binary, once per test run, as a user
// does (`go build` of the repository's main package), and returns its path.
func mustBuildTally(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	b := &tallyBinary
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "tally-e2e-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "tally")
		cmd := exec.Command("go", "build", "-o", b.path, ".")
		cmd.Dir = repoRoot
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build: %v\n%s", b.err, b.out)
	}
	return b.path
}
