package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Several processes, one system (issue 22): what every process must show
// and share when several serve one database, and where one listens.

// waitUntil polls cond every 20 ms until it holds, or fails t after
// within, saying what was awaited.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListenAddr: LISTEN_ADDR=127.0.0.1 serves on the loopback interface
// only, and says so in its start-up line; a bad value stops start-up with
// one line naming the setting, before the store is opened.
func TestListenAddr(t *testing.T) {
	t.Parallel()
	t.Run("Loopback", func(t *testing.T) {
		port := strconv.Itoa(freePort(t))
		var logs logBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-data-dir", t.TempDir()},
				func(k string) string { return map[string]string{"LISTEN_ADDR": "127.0.0.1", "PORT": port}[k] }, &logs)
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}()
		waitUntil(t, 10*time.Second, "the start-up line", func() bool { return strings.Contains(logs.String(), "tally listening") })
		for _, l := range logs.lines(t) {
			if l["msg"] == "tally listening" && l["addr"] != "127.0.0.1:"+port {
				t.Errorf("listening on %v, want 127.0.0.1:%s", l["addr"], port)
			}
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Another interface of this machine, if it has one, is not served.
		if ip := otherInterface(); ip != "" {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second); err == nil {
				c.Close()
				t.Errorf("%s:%s accepted a connection; only the loopback should", ip, port)
			}
		}
	})
	t.Run("BadValue", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		err := run(context.Background(), []string{"-listen-addr", "tally.example.com", "-data-dir", dir},
			func(string) string { return "" }, &out)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "LISTEN_ADDR") {
			t.Errorf("got %v, want one line naming LISTEN_ADDR", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 || out.Len() != 0 {
			t.Errorf("a bad LISTEN_ADDR still opened the store or logged: %d entries, %q", len(entries), out.String())
		}
	})
}

// otherInterface is an IPv4 address of this machine that is not loopback,
// or "" when it has none.
func otherInterface() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
