package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"tally/repository"
)

// tallyRun is one run of the built binary.
type tallyRun struct {
	code           int
	stdout, stderr string
}

// runTally runs the built binary with args and exactly the environment env
// (none of the test's own: MONGODB_URI among it must not leak in), and
// waits for it to exit.
func runTally(t *testing.T, env map[string]string, args ...string) tallyRun {
	t.Helper()
	ctx, cancel := processContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, mustBuildTally(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatalf("tally %s: %v", strings.Join(args, " "), err)
	}
	return tallyRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// mustRunTally runs the built binary as runTally does and fails the test
// unless it exits 0 and its standard output contains want.
func mustRunTally(t *testing.T, env map[string]string, want string, args ...string) tallyRun {
	t.Helper()
	r := runTally(t, env, args...)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("tally %s: exit %d, want 0 and %q in the output\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// TestCommandsAsDocumented runs the built binary the way the README and
// --help show each command and flag: serve with -port and -data-dir,
// make-admin EMAIL, verify, verify -repair and --repair, version, --help
// (migrate --to is TestMigrateCommandTarget's). Each must exit 0 and say
// what it did.
func TestCommandsAsDocumented(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir}

	t.Run("Help", func(t *testing.T) {
		r := mustRunTally(t, nil, "Usage: tally [COMMAND] [FLAGS]", "--help")
		for _, want := range []string{"verify [-repair]", "migrate --to URI", "--to-database NAME", "make-admin EMAIL", "-port, PORT"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("--help does not show %q", want)
			}
		}
	})
	t.Run("ShortHelp", func(t *testing.T) {
		for _, arg := range []string{"-h", "-help"} {
			mustRunTally(t, nil, "Usage: tally [COMMAND] [FLAGS]", arg)
		}
	})
	t.Run("Version", func(t *testing.T) { mustRunTally(t, nil, "tally ", "version") })

	// serve, with its settings as flags: tally -port P -data-dir DIR.
	port := freePort(t)
	srv := exec.Command(mustBuildTally(t), "-port", fmt.Sprint(port), "-data-dir", dir)
	srv.Env = []string{"PATH=" + os.Getenv("PATH"), "LOG_LEVEL=error"}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHealthy(t, base)
	u := remoteApp(t, base).mustSignUp("STREAMER")
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v (want exit 0)", err)
	}

	mustRunTally(t, env, "is now an admin", "make-admin", u.Email)
	mustRunTally(t, env, "0 drifted", "verify")
	for _, repair := range []string{"-repair", "--repair"} {
		t.Run(repair, func(t *testing.T) { mustRunTally(t, env, "0 drifted, 0 repaired", "verify", repair) })
	}
	// The flags of the settings work after a command too.
	mustRunTally(t, nil, "0 drifted", "verify", "-data-dir", dir)
	mustRunTally(t, nil, "0 drifted", "verify", "-repair", "-data-dir", dir)

	t.Run("ErrUnknownFlag", func(t *testing.T) {
		if r := runTally(t, env, "verify", "-repiar"); r.code != 1 || !strings.Contains(r.stderr, "-repiar") {
			t.Errorf("verify -repiar: exit %d, stderr %q; want 1 and the flag named", r.code, r.stderr)
		}
	})
}

// TestMigrateCommandTarget: `tally migrate --to URI` copies into the
// database --to-database names, else the one the URI's path names, else
// MONGODB_DATABASE (the source's); a server's verify on each target finds
// the data whole.
func TestMigrateCommandTarget(t *testing.T) {
	t.Parallel()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("MONGODB_URI is not set: migrate needs a MongoDB deployment to migrate into")
	}
	dir := t.TempDir()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	source := "tally_test_src_" + suffix
	env := map[string]string{"DATA_DIR": dir, "MONGODB_DATABASE": source}
	a, stop := mustStartConfiguredApp(t, env)
	u := a.mustSignUp("STREAMER")
	stop()

	withPath := strings.TrimSuffix(strings.SplitN(uri, "?", 2)[0], "/") + "/tally_test_path_" + suffix
	if q := strings.SplitN(uri, "?", 2); len(q) == 2 {
		withPath += "?" + q[1]
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the target database
	}{
		{"Flag", []string{"--to", withPath, "--to-database", "tally_test_flag_" + suffix}, "tally_test_flag_" + suffix},
		{"URIPath", []string{"--to", withPath}, "tally_test_path_" + suffix},
		{"SourceName", []string{"--to=" + uri}, source},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { dropDatabase(t, uri, tc.want) })
			mustRunTally(t, env, fmt.Sprintf("-> database %q", tc.want), append([]string{"migrate"}, tc.args...)...)
			// verify and make-admin as docs/operations.md runs them: on
			// the deployment, without JWT_SECRET (only serve needs it).
			target := map[string]string{"MONGODB_URI": uri, "MONGODB_DATABASE": tc.want}
			mustRunTally(t, target, "0 drifted", "verify")
			mustRunTally(t, target, "is now an admin", "make-admin", u.Email)
			s, err := repository.Open(context.Background(), repository.Options{URI: uri, Database: tc.want})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			if _, err := repository.NewUsers(s).ByID(context.Background(), u.ID); err != nil {
				t.Errorf("the user is not in database %s: %v", tc.want, err)
			}
		})
	}
}

// dropDatabase drops database db at uri, for a test's cleanup.
func dropDatabase(t *testing.T, uri, db string) {
	ctx := context.Background()
	if s, err := repository.Open(ctx, repository.Options{URI: uri, Database: db}); err == nil {
		_ = s.Drop(ctx)
		_ = s.Close(ctx)
	}
}
