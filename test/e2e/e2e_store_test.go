package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"tally/repository"
	"tally/repository/repotest"
	"tally/server"
)

// restartEnv is the configuration of a server whose data outlives it: a
// fresh DATA_DIR on the embedded file store, or, when MONGODB_URI is set, a
// fresh database on that MongoDB (dropped when t ends).
func restartEnv(t *testing.T) map[string]string {
	t.Helper()
	opts := repotest.Options(t)
	if opts.URI == "" {
		return map[string]string{"DATA_DIR": t.TempDir()}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if s, err := repository.Open(ctx, opts); err == nil {
			_ = s.Drop(ctx)
			_ = s.Close(ctx)
		}
	})
	return map[string]string{"MONGODB_URI": opts.URI, "MONGODB_DATABASE": opts.Database, "JWT_SECRET": testSecret}
}

// TestRestartPersistence: what one server wrote, the next one on the same
// store reads — and the first one's tokens still work.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	env := restartEnv(t)

	first, stop := mustStartConfiguredApp(t, env)
	u := first.mustSignUp("BRAND")
	first.mustDo(u.Token, updateSettingsMutation, map[string]any{"input": map[string]any{
		"strategy": "WEIGHTED", "rotationIntervalMinutes": 42,
		"priorityWeights": map[string]any{"paymentRate": 0.5, "performance": 0.25, "fairness": 0.25},
		"blackoutPeriods": []any{map[string]any{"daysOfWeek": []string{"SUNDAY"}, "startTime": "23:00", "endTime": "01:00", "timezone": "Asia/Tokyo"}},
	}}, nil)
	var before meData
	first.mustDo(u.Token, meQuery, nil, &before)
	stop()

	second, _ := mustStartConfiguredApp(t, env)
	token, role := second.mustLogIn(u.Email, "correct horse")
	if role != "BRAND" {
		t.Errorf("role after restart: got %q, want BRAND", role)
	}
	var after meData
	second.mustDo(token, meQuery, nil, &after)
	if !reflect.DeepEqual(after, before) || after.Me.CampaignRotationSettings.RotationIntervalMinutes != 42 {
		t.Errorf("me after restart:\n got %+v\nwant %+v", after, before)
	}
	var again meData
	second.mustDo(u.Token, meQuery, nil, &again)
	if again.Me.ID != u.ID {
		t.Errorf("the first server's token names %q, want %q", again.Me.ID, u.ID)
	}
	// The unique email index survived too.
	second.mustFail("", signUpMutation, signUpInput(strings.ToUpper(u.Email), "correct horse", "STREAMER"), "CONFLICT", "")
}

// TestDataDirLock: the embedded file store belongs to one server; a second
// one on the same DATA_DIR stops with a clear message until the first is gone.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	_, stop := mustStartConfiguredApp(t, map[string]string{"DATA_DIR": dir})
	const want = "is in use by another Tally server"

	t.Run("ErrSecondOpen", func(t *testing.T) {
		s, err := repository.Open(context.Background(), repository.Options{DataDir: dir})
		if err == nil {
			s.Close(context.Background())
			t.Fatal("a second store opened on a DATA_DIR in use")
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("got %q, want it to name %s and say %q", err, dir, want)
		}
	})
	t.Run("ErrSecondServer", func(t *testing.T) {
		// The timeout ends the server should it start after all.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := server.Run(ctx, []string{"-port", strconv.Itoa(freePort(t)), "-data-dir", dir}, func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want one line saying %q", err, want)
		}
	})
	t.Run("ErrMakeAdminWhileServing", func(t *testing.T) {
		err := server.Run(context.Background(), []string{"make-admin", "-data-dir", dir, "a@example.com"}, func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	})
	t.Run("FreeOnceStopped", func(t *testing.T) {
		stop()
		s, err := repository.Open(context.Background(), repository.Options{DataDir: dir})
		if err != nil {
			t.Fatalf("open after the first server stopped: %v", err)
		}
		s.Close(context.Background())
	})
}

// TestEmbeddedJWTSecret: without JWT_SECRET the embedded mode keeps a secret
// in DATA_DIR/jwt_secret, created once and reused, so tokens survive restarts;
// another DATA_DIR has another secret.
func TestEmbeddedJWTSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt_secret")

	first, stop := mustStartConfiguredApp(t, map[string]string{"DATA_DIR": dir})
	u := first.mustSignUp("STREAMER")
	stop()
	created, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("jwt_secret not created: %v", err)
	}
	if n := len(strings.TrimSpace(string(created))); n < 32 {
		t.Errorf("secret is %d bytes, want at least 32", n)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("jwt_secret mode: got %v, want 0600", fi.Mode().Perm())
	}

	second, stop := mustStartConfiguredApp(t, map[string]string{"DATA_DIR": dir})
	var me meData
	second.mustDo(u.Token, meQuery, nil, &me)
	if me.Me.Email != u.Email {
		t.Errorf("me with the old token: got %q", me.Me.Email)
	}
	stop()
	if reused, _ := os.ReadFile(path); !bytes.Equal(reused, created) {
		t.Errorf("jwt_secret changed across restarts")
	}

	t.Run("OtherDataDirRejectsToken", func(t *testing.T) {
		other, _ := mustStartConfiguredApp(t, map[string]string{"DATA_DIR": t.TempDir()})
		other.mustFail(u.Token, meQuery, nil, "UNAUTHENTICATED", "")
	})
	t.Run("JWTSecretWinsAndNoFileIsWritten", func(t *testing.T) {
		d := t.TempDir()
		mustStartConfiguredApp(t, map[string]string{"DATA_DIR": d, "JWT_SECRET": testSecret})
		if _, err := os.Stat(filepath.Join(d, "jwt_secret")); !os.IsNotExist(err) {
			t.Errorf("jwt_secret written although JWT_SECRET is set (stat: %v)", err)
		}
	})
}

// TestMakeAdmin: `tally make-admin EMAIL` promotes an existing user on the
// configured store; the role reaches tokens at the next log-in.
func TestMakeAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATA_DIR": dir}
	getenv := func(k string) string { return env[k] }

	first, stop := mustStartConfiguredApp(t, env)
	u := first.mustSignUp("STREAMER")
	stop()

	t.Run("OK", func(t *testing.T) {
		var out bytes.Buffer
		if err := server.Run(context.Background(), []string{"make-admin", "  " + strings.ToUpper(u.Email) + " "}, getenv, &out); err != nil {
			t.Fatalf("make-admin: %v", err)
		}
		if !strings.Contains(out.String(), u.Email) || !strings.Contains(out.String(), "is now an admin") {
			t.Errorf("output: %q", out.String())
		}
		a, _ := mustStartConfiguredApp(t, env)
		_, role := a.mustLogIn(u.Email, "correct horse")
		if role != "ADMIN" {
			t.Errorf("role after make-admin: got %q, want ADMIN", role)
		}
	})
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		err := server.Run(context.Background(), []string{"make-admin", "nobody@example.com"}, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "nobody@example.com") || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want one line naming the email", err)
		}
	})
	t.Run("ErrNoEmail", func(t *testing.T) {
		err := server.Run(context.Background(), []string{"make-admin"}, getenv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "make-admin EMAIL") {
			t.Errorf("got %v, want the usage", err)
		}
	})
}
