package config

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const secret = "0123456789abcdef0123456789abcdef"

func TestLoadDefaults(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"Port", c.Port, 8080},
		{"ListenAddr", c.ListenAddr, ""},
		{"Addr", c.Addr(), ":8080"}, // every interface, as before LISTEN_ADDR
		{"MongoURI", c.MongoURI, ""},
		{"Database", c.Database, "tally"},
		{"DataDir", c.DataDir, "./data"},
		{"JWTSecret", c.JWTSecret, ""},
		{"TokenTTL", c.TokenTTL, 24 * time.Hour},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"CORSOrigins", len(c.CORSOrigins), 0},
		{"Currency", c.Currency, "USD"},
		{"BaseURL", c.BaseURL, "http://localhost:8080"},
		{"LiveSubscriptionsPerUser", c.LiveSubscriptionsPerUser, 10},
		{"PostbackAllowPrivate", c.PostbackAllowPrivate, false},
		{"Args", len(c.Args), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestLoadFromEnvironment(t *testing.T) {
	c, err := Load(nil, env(map[string]string{
		"PORT": " 9000 ", "MONGODB_URI": "mongodb://db:27017/?replicaSet=rs0", "MONGODB_DATABASE": "tally_prod",
		"DATA_DIR": "/var/lib/tally", "JWT_SECRET": secret, "TOKEN_TTL": "90m", "LOG_LEVEL": "DEBUG",
		"CORS_ORIGINS": " https://a.example.com, ,https://b.example.com ", "CURRENCY": "eur", "BASE_URL": "https://tally.example.com/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "Port", c.Port, 9000)
	wantField(t, "MongoURI", c.MongoURI, "mongodb://db:27017/?replicaSet=rs0")
	wantField(t, "Database", c.Database, "tally_prod")
	wantField(t, "DataDir", c.DataDir, "/var/lib/tally")
	if c.JWTSecret != secret {
		t.Error("JWTSecret: not the one given")
	}
	wantField(t, "TokenTTL", c.TokenTTL, 90*time.Minute)
	wantField(t, "LogLevel", c.LogLevel, slog.LevelDebug)
	if !slices.Equal(c.CORSOrigins, []string{"https://a.example.com", "https://b.example.com"}) {
		t.Errorf("CORSOrigins: got %q", c.CORSOrigins)
	}
	if c.Currency != "EUR" {
		t.Errorf("Currency: got %q, want EUR", c.Currency)
	}
	if c.BaseURL != "https://tally.example.com" {
		t.Errorf("BaseURL: got %q, want no trailing slash", c.BaseURL)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	e := env(map[string]string{"PORT": "9000", "DATA_DIR": "/env", "LOG_LEVEL": "debug", "TOKEN_TTL": "1h",
		"CORS_ORIGINS": "https://env.example.com", "MONGODB_DATABASE": "envdb", "JWT_SECRET": "short",
		"POSTBACK_ALLOW_PRIVATE": "false"})
	c, err := Load([]string{"-port", "9100", "-postback-allow-private=true", "-data-dir", "/flag", "-log-level=warn", "--token-ttl", "2h",
		"-cors-origins", "*", "-mongodb-database", "flagdb", "-jwt-secret", secret, "make-admin-operand"}, e)
	if err != nil {
		t.Fatal(err)
	}
	wantField(t, "Port", c.Port, 9100)
	wantField(t, "DataDir", c.DataDir, "/flag")
	wantField(t, "LogLevel", c.LogLevel, slog.LevelWarn)
	wantField(t, "TokenTTL", c.TokenTTL, 2*time.Hour)
	wantField(t, "Database", c.Database, "flagdb")
	if c.JWTSecret != secret {
		t.Error("JWTSecret: the flag's does not win")
	}
	if !slices.Equal(c.CORSOrigins, []string{"*"}) {
		t.Errorf("CORSOrigins: got %q", c.CORSOrigins)
	}
	if !slices.Equal(c.Args, []string{"make-admin-operand"}) {
		t.Errorf("Args: got %q", c.Args)
	}
	if !c.PostbackAllowPrivate {
		t.Error("PostbackAllowPrivate: the flag's does not win")
	}
	if c.BaseURL != "http://localhost:9100" {
		t.Errorf("BaseURL follows the port: got %q", c.BaseURL)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // the setting the one-line message must name
	}{
		{"PortNotANumber", nil, map[string]string{"PORT": "http"}, "PORT"},
		{"PortZero", nil, map[string]string{"PORT": "0"}, "PORT"},
		{"PortTooLarge", []string{"-port", "65536"}, nil, "PORT"},
		{"ListenAddrHostName", nil, map[string]string{"LISTEN_ADDR": "tally.example.com"}, "LISTEN_ADDR"},
		{"ListenAddrWithPort", nil, map[string]string{"LISTEN_ADDR": "127.0.0.1:8080"}, "LISTEN_ADDR"},
		{"ListenAddrFlag", []string{"-listen-addr", "localhost"}, nil, "LISTEN_ADDR"},
		{"MongoURIScheme", nil, map[string]string{"MONGODB_URI": "http://db", "JWT_SECRET": secret}, "MONGODB_URI"},
		{"SecretShort", nil, map[string]string{"JWT_SECRET": "too-short"}, "JWT_SECRET"},
		{"DatabaseName", nil, map[string]string{"MONGODB_DATABASE": "a.b"}, "MONGODB_DATABASE"},
		{"TokenTTLMalformed", nil, map[string]string{"TOKEN_TTL": "a day"}, "TOKEN_TTL"},
		{"TokenTTLTooShort", nil, map[string]string{"TOKEN_TTL": "10s"}, "TOKEN_TTL"},
		{"LogLevel", nil, map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"Currency", nil, map[string]string{"CURRENCY": "EURO"}, "CURRENCY"},
		{"BaseURL", nil, map[string]string{"BASE_URL": "tally.example.com"}, "BASE_URL"},
		{"LiveSubscriptionsZero", nil, map[string]string{"LIVE_SUBSCRIPTIONS_PER_USER": "0"}, "LIVE_SUBSCRIPTIONS_PER_USER"},
		{"LiveSubscriptionsNotANumber", []string{"-live-subscriptions-per-user", "many"}, nil, "LIVE_SUBSCRIPTIONS_PER_USER"},
		{"PostbackAllowPrivate", nil, map[string]string{"POSTBACK_ALLOW_PRIVATE": "maybe"}, "POSTBACK_ALLOW_PRIVATE"},
		{"UnknownFlag", []string{"-nope"}, nil, "-nope"},
		{"FlagWithoutValue", []string{"-port"}, nil, "-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message is more than one line: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not name %s", msg, tc.want)
			}
		})
	}
}

// wantField reports, naming the field, when got is not want.
func wantField[T comparable](t *testing.T, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", field, got, want)
	}
}

func TestLoadHardeningSettings(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := Load(nil, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name      string
			got, want any
		}{
			{"TrustedProxies", len(c.TrustedProxies), 0},
			{"LogInPerAccount", c.LogInPerAccount.String(), "10/15m0s"},
			{"LogInPerAddress", c.LogInPerAddress.String(), "50/15m0s"},
			{"SignUpPerAddress", c.SignUpPerAddress.String(), "10/1h0m0s"},
			{"TokenPerToken", c.TokenPerToken.String(), "600/1m0s"},
			{"TokenPerAddress", c.TokenPerAddress.String(), "120/1m0s"},
			{"AllowPrivateURLs", c.AllowPrivateURLs, false},
		} {
			if tc.got != tc.want {
				t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
			}
		}
	})
	t.Run("FlagsAndEnvironment", func(t *testing.T) {
		c, err := Load([]string{"-login-limit-per-account", "off", "-allow-private-urls", "true"},
			env(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "TOKEN_LIMIT_PER_TOKEN": "5/10s"}))
		if err != nil {
			t.Fatal(err)
		}
		if !c.LogInPerAccount.Unlimited() || !c.AllowPrivateURLs || c.TokenPerToken.String() != "5/10s" {
			t.Errorf("got %+v", c)
		}
		if len(c.TrustedProxies) != 2 || c.TrustedProxies[0].String() != "10.0.0.0/8" || c.TrustedProxies[1].String() != "192.0.2.1/32" {
			t.Errorf("TrustedProxies: got %v", c.TrustedProxies)
		}
	})
	for name, e := range map[string]map[string]string{
		"LOGIN_LIMIT_PER_ACCOUNT": {"LOGIN_LIMIT_PER_ACCOUNT": "ten"},
		"TOKEN_LIMIT_PER_ADDRESS": {"TOKEN_LIMIT_PER_ADDRESS": "5/0s"},
		"TRUSTED_PROXIES":         {"TRUSTED_PROXIES": "proxy.local"},
		"ALLOW_PRIVATE_URLS":      {"ALLOW_PRIVATE_URLS": "maybe"},
	} {
		t.Run("Err"+name, func(t *testing.T) {
			_, err := Load(nil, env(e))
			if err == nil || !strings.HasPrefix(err.Error(), name) || strings.Contains(err.Error(), "\n") {
				t.Errorf("want one line naming %s, got %v", name, err)
			}
		})
	}
}

// TestListenAddr: LISTEN_ADDR (or -listen-addr) is an IP address, IPv6 with
// or without brackets, joined with PORT into what net.Listen takes.
func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"Unset", nil, nil, ":8080"},
		{"Loopback", nil, map[string]string{"LISTEN_ADDR": " 127.0.0.1 ", "PORT": "9000"}, "127.0.0.1:9000"},
		{"IPv6", nil, map[string]string{"LISTEN_ADDR": "::1"}, "[::1]:8080"},
		{"IPv6Brackets", nil, map[string]string{"LISTEN_ADDR": "[::1]"}, "[::1]:8080"},
		{"AllIPv4", nil, map[string]string{"LISTEN_ADDR": "0.0.0.0"}, "0.0.0.0:8080"},
		{"FlagWins", []string{"-listen-addr", "10.0.0.7"}, map[string]string{"LISTEN_ADDR": "127.0.0.1"}, "10.0.0.7:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			wantField(t, "Addr", c.Addr(), tc.want)
		})
	}
}

// TestRequireSecret: on MongoDB, JWT_SECRET is serve's requirement, not
// Load's: make-admin, verify and migrate sign no tokens and load without it.
func TestRequireSecret(t *testing.T) {
	t.Parallel()
	c, err := Load(nil, env(map[string]string{"MONGODB_URI": "mongodb://db"}))
	if err != nil {
		t.Fatalf("Load without JWT_SECRET: %v", err)
	}
	if err := c.RequireSecret(); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("RequireSecret on MongoDB without a secret: %v, want an error naming JWT_SECRET", err)
	}
	for _, e := range []map[string]string{
		{"MONGODB_URI": "mongodb://db", "JWT_SECRET": strings.Repeat("s", 32)},
		{}, // embedded: the secret is kept in DATA_DIR
	} {
		c, err := Load(nil, env(e))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RequireSecret(); err != nil {
			t.Errorf("RequireSecret with %v: %v", e, err)
		}
	}
}
