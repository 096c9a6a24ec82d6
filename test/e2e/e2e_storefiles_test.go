package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tally/repository"
	"tally/server"
	"tally/server/config"
)

// startOnDataDir starts the embedded server on dir as `go run .` would, with
// its logs in logs, and stops it again (closing the store and its lock).
func startOnDataDir(t *testing.T, dir string, logs *logBuffer) {
	t.Helper()
	cfg, err := config.Load(nil, func(k string) string { return map[string]string{"DATA_DIR": dir}[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := server.New(context.Background(), cfg, logs.logger(), server.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("new app: %v", err)
	}
	a.Stop() // the projector and the postback sender, before their store closes
	if err := a.Store.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func warnings(t *testing.T, logs *logBuffer) []map[string]any {
	var out []map[string]any
	for _, l := range logs.lines(t) {
		if l["level"] == "WARN" {
			out = append(out, l)
		}
	}
	return out
}

// TestStoreFileWarnings: a replaced jwt_secret and a store file missing next
// to existing data are each a warning that says what they mean; a first
// start and an ordinary restart warn of nothing.
func TestStoreFileWarnings(t *testing.T) {
	if os.Getenv("MONGODB_URI") != "" {
		t.Skip("the embedded store's files")
	}
	dir := t.TempDir()
	var first logBuffer
	startOnDataDir(t, dir, &first)
	startOnDataDir(t, dir, &first)
	if w := warnings(t, &first); len(w) != 0 {
		t.Fatalf("first start and restart warned: %v", w)
	}
	secretPath := filepath.Join(dir, "jwt_secret")

	t.Run("DamagedSecret", func(t *testing.T) {
		if err := os.WriteFile(secretPath, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		startOnDataDir(t, dir, &logs)
		w := warnings(t, &logs)
		if len(w) != 1 || !strings.Contains(w[0]["msg"].(string), "damaged") || !strings.Contains(w[0]["msg"].(string), "log in again") {
			t.Fatalf("warnings: %v", w)
		}
		b, _ := os.ReadFile(secretPath)
		if s := strings.TrimSpace(string(b)); len(s) < 32 || strings.Contains(logs.String(), s) {
			t.Errorf("the secret was not replaced, or was logged")
		}
	})
	t.Run("MissingSecretNextToStore", func(t *testing.T) {
		if err := os.Remove(secretPath); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		startOnDataDir(t, dir, &logs)
		if w := warnings(t, &logs); len(w) != 1 || !strings.Contains(w[0]["msg"].(string), "missing next to an existing store") {
			t.Fatalf("warnings: %v", w)
		}
	})
	t.Run("MissingStoreFile", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, repository.DataFile)); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		startOnDataDir(t, dir, &logs)
		if w := warnings(t, &logs); len(w) != 1 || !strings.Contains(w[0]["msg"].(string), "EMPTY store") {
			t.Fatalf("warnings: %v", w)
		}
	})
}

// TestEmptyStoreFile: a 0-byte store file (a disk that filled up, a copy
// cut short) stops start-up with an error that names the file and says what
// to do, not lungo's bare "EOF"; nothing is written over it.
func TestEmptyStoreFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, repository.DataFile)
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := server.Run(context.Background(), []string{"-data-dir", dir, "-port", fmt.Sprint(freePort(t)), "-mongodb-uri", ""}, func(string) string { return "" }, io.Discard)
	if err == nil {
		t.Fatal("start-up went on with an empty store file")
	}
	for _, want := range []string{file, "empty", "restore it from a backup", "delete it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was touched: %v %v", fi, err)
	}
}
