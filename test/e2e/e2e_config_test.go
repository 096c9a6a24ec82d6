package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"tally/repository"
	"tally/server"
)

// TestRunConfigErrors: bad configuration stops start-up before anything is
// opened, with an error of one line that names the setting.
func TestRunConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"BadPort", nil, map[string]string{"PORT": "eighty"}, "PORT"},
		{"BadPortFlag", []string{"-port", "70000"}, nil, "PORT"},
		{"MongoURIWithoutSecret", nil, map[string]string{"MONGODB_URI": "mongodb://localhost:27017"}, "JWT_SECRET"},
		{"ShortSecret", nil, map[string]string{"JWT_SECRET": "0123456789"}, "JWT_SECRET"},
		{"BadLogLevel", nil, map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"BadTokenTTL", nil, map[string]string{"TOKEN_TTL": "forever"}, "TOKEN_TTL"},
		{"UnknownFlag", []string{"-verbose"}, nil, "-verbose"},
		{"UnknownFlagAfterCommand", []string{"make-admin", "-force", "a@example.com"}, nil, "-force"},
		{"UnknownCommand", []string{"reconcile"}, nil, `"reconcile"`}, // verify replaced it
		{"MigrateWithoutTo", []string{"migrate"}, nil, "migrate --to"},
		{"ServeWithOperand", []string{"-port", "8080", "extra"}, nil, `"extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"DATA_DIR": dir}
			for k, v := range tc.env {
				env[k] = v
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := server.Run(ctx, tc.args, func(k string) string { return env[k] }, &out)
			if err == nil {
				t.Fatal("run accepted the configuration")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s", msg, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote before failing: %q", out.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad configuration still opened the store: DATA_DIR holds %d entries", len(entries))
	}
}

// TestMainExitsNonZero: the binary prints the error on one line of stderr
// and exits 1.
func TestMainExitsNonZero(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(mustBuildTally(t))
	cmd.Env = append(os.Environ(), "PORT=0", "DATA_DIR="+t.TempDir(), "MONGODB_URI=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Errorf("exit code: got %d (%v), want 1", code, err)
	}
	if got := stderr.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "tally: PORT") {
		t.Errorf("stderr: got %q, want one line about PORT", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: got %q", stdout.String())
	}
}

// TestServeShutsDownGracefully: serve answers until its context is cancelled
// (what SIGINT and SIGTERM do), lets a request in flight finish, releases the
// store and returns nil.
func TestServeShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	base := "http://127.0.0.1:" + port
	var logs logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, []string{"-port", port, "-data-dir", dir}, func(string) string { return "" }, &logs)
	}()

	eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned before serving: %v", err)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "/healthz did not answer 200")

	// A request whose body is still arriving when the shutdown begins. It
	// asks for 100 Continue, which the server sends when the handler first
	// reads the body: once the client has it, the request is in the
	// handler, in flight, whatever the machine's load.
	pr, pw := io.Pipe()
	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	inHandler := make(chan struct{})
	go func() {
		trace := &httptrace.ClientTrace{Got100Continue: func() { close(inHandler) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, base+"/query", pr)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Expect", "100-continue")
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour}}
		resp, err := client.Do(req)
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- result{status: resp.StatusCode, body: string(b)}
	}()
	select {
	case <-inHandler:
	case r := <-inflight:
		t.Fatalf("the request ended before its body was read: %+v", r)
	}
	if _, err := io.WriteString(pw, `{"query": "{ __type`); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The shutdown has begun once a new connection is refused; the request
	// in flight still holds it.
	eventually(t, func() bool {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	}, "the server still accepted connections after the cancel")
	select {
	case err := <-done:
		t.Fatalf("run returned (%v) with a request in flight", err)
	default:
	}
	if _, err := io.WriteString(pw, `name }"}`); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case r := <-inflight:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"__typename":"Query"`) {
			t.Errorf("request in flight: got %d %q %v", r.status, r.body, r.err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the request in flight did not finish")
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: got %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after the cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("still serving after shutdown")
	}
	s, err := repository.Open(context.Background(), repository.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("store not released after shutdown: %v", err)
	}
	s.Close(context.Background())

	var msgs []string
	for _, l := range logs.lines(t) {
		msgs = append(msgs, fmt.Sprint(l["msg"]))
	}
	if got := strings.Join(msgs, ","); !strings.HasPrefix(got, "tally listening,") || !strings.Contains(got, ",shutting down") {
		t.Errorf("log messages: %s", got)
	}
	for _, l := range logs.lines(t) {
		if l["msg"] == "tally listening" {
			if b, _ := json.Marshal(l); !strings.Contains(string(b), dir) {
				t.Errorf("start-up line does not say which store: %s", b)
			}
		}
	}
}
