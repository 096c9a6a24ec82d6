// Package config reads Tally's configuration from the environment and from
// flags of the same meaning (a flag wins over its variable).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"tally/domain"
	"tally/foundation/ratelimit"
)

// Config is every setting of the server, with its default.
type Config struct {
	Port        int           // PORT, -port: TCP port to listen on (8080)
	ListenAddr  string        // LISTEN_ADDR, -listen-addr: IP address to listen on; empty listens on every interface
	MongoURI    string        // MONGODB_URI, -mongodb-uri: MongoDB deployment; empty runs the embedded store
	Database    string        // MONGODB_DATABASE, -mongodb-database: database name ("tally")
	DataDir     string        // DATA_DIR, -data-dir: embedded store directory ("./data")
	JWTSecret   string        // JWT_SECRET, -jwt-secret: HS256 key, ≥32 bytes; serve requires it with MONGODB_URI (RequireSecret)
	TokenTTL    time.Duration // TOKEN_TTL, -token-ttl: session token lifetime (24h)
	LogLevel    slog.Level    // LOG_LEVEL, -log-level: debug, info, warn or error (info)
	CORSOrigins []string      // CORS_ORIGINS, -cors-origins: comma-separated browser origins, or *
	Currency    string        // CURRENCY, -currency: the platform's one currency (USD)
	BaseURL     string        // BASE_URL, -base-url: public URL of this server, for overlay and click links

	// TRUSTED_PROXIES, -trusted-proxies: comma-separated IPs or CIDRs of the
	// reverse proxies in front of the server (none). X-Forwarded-For is
	// believed only from them; without any, the client address is the TCP
	// peer's.
	TrustedProxies []netip.Prefix
	// Rate limits, each "N/duration" (N at once, refilled at N per duration)
	// or "off". The log-in and sign-up ones are counted in the store, shared
	// by every server process; the token ones per server process.
	LogInPerAccount  ratelimit.Rate // LOGIN_LIMIT_PER_ACCOUNT, -login-limit-per-account: log-in attempts on one email (10/15m; a success resets it)
	LogInPerAddress  ratelimit.Rate // LOGIN_LIMIT_PER_ADDRESS, -login-limit-per-address: log-in attempts from one client address (50/15m)
	SignUpPerAddress ratelimit.Rate // SIGNUP_LIMIT_PER_ADDRESS, -signup-limit-per-address: sign-ups from one client address (10/1h)
	TokenPerToken    ratelimit.Rate // TOKEN_LIMIT_PER_TOKEN, -token-limit-per-token: public requests with one browser source token (600/1m)
	TokenPerAddress  ratelimit.Rate // TOKEN_LIMIT_PER_ADDRESS, -token-limit-per-address: public token requests from one client address (120/1m)
	ExportPerUser    ratelimit.Rate // EXPORT_LIMIT_PER_USER, -export-limit-per-user: event exports (CSV) one user may start (30/1h), counted in the store
	// ALLOW_PRIVATE_URLS, -allow-private-urls: accept landing and postback
	// URLs on loopback, private and link-local addresses (false): for tests
	// and private deployments only.
	AllowPrivateURLs bool
	// INTROSPECTION, -introspection: answer GraphQL introspection (true);
	// GraphiQL needs it.
	Introspection bool
	// Invalid traffic (counted apart, never billed): CLICK_VIEWER_WINDOW,
	// -click-viewer-window: one viewer's clicks on one participation are
	// billable once per this sliding window (24h; "off" or 0 turns it off);
	// CLICK_LIMIT_PER_TOKEN, -click-limit-per-token: clicks per participation
	// beyond N per duration are invalid (60/1m; "off").
	ClickViewerWindow time.Duration
	ClickPerToken     ratelimit.Rate
	// LIVE_SUBSCRIPTIONS_PER_USER, -live-subscriptions-per-user: how many live
	// subscriptions (WebSocket and SSE together) one user may hold at once on
	// one server, and how many WebSocket connections, 1–1000 (10)
	LiveSubscriptionsPerUser int
	// PROJECTION_PARTITIONS, -projection-partitions: how many partitions a
	// new database's events are projected in, 1–256 (8); recorded in the
	// database at its first start, after which the recorded number holds
	// (see docs/tracking.md)
	ProjectionPartitions int
	// POSTBACK_ALLOW_PRIVATE, -postback-allow-private: let outbound postbacks
	// reach loopback, private and link-local addresses (false)
	PostbackAllowPrivate bool
	// HOLD_DAYS, -hold-days: how many days billed money is held before it
	// is payable, for campaigns without their own holdDays, 0–365 (30)
	HoldDays int
	// PAYOUT_MINIMUM, -payout-minimum: the least available balance a payout
	// run pays, a decimal amount of at least 0.01 (10.00)
	PayoutMinimum domain.Micros
	Args          []string // positional arguments after the flags (a server command's operands)
}

// Load reads the configuration from args (without the program name) and the
// environment getenv. Any bad value is an error of one line naming the
// setting.
func Load(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs, v := define(getenv, &c)
	port, uri, db, dataDir, secret, ttl, level, origins := v.port, v.uri, v.db, v.dataDir, v.secret, v.ttl, v.level, v.origins
	listenAddr := v.listenAddr
	currency, baseURL, proxies, rates, privateURLs, introspection := v.currency, v.baseURL, v.proxies, v.rates, v.privateURLs, v.introspection
	viewerWindow, liveMax, postbackPrivate := v.viewerWindow, v.liveMax, v.postbackPrivate
	holdDays, payoutMinimum := v.holdDays, v.payoutMinimum
	partitions := v.partitions
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("flags: %w", err)
	}
	c.Args = fs.Args()
	p, err := strconv.Atoi(*port)
	if err != nil || p < 1 || p > 65535 {
		return Config{}, fmt.Errorf("PORT must be a number from 1 to 65535, got %q", *port)
	}
	c.Port = p
	if c.ListenAddr, err = parseListenAddr(*listenAddr); err != nil {
		return Config{}, err
	}
	c.MongoURI = *uri
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		return Config{}, errors.New("MONGODB_URI must start with mongodb:// or mongodb+srv://")
	}
	c.Database = *db
	if c.Database == "" || strings.ContainsAny(c.Database, `/\. "$`) {
		return Config{}, fmt.Errorf("MONGODB_DATABASE %q is not a valid database name", c.Database)
	}
	c.DataDir = *dataDir
	c.JWTSecret = *secret
	if c.JWTSecret != "" && len(c.JWTSecret) < 32 {
		return Config{}, errors.New("JWT_SECRET must be at least 32 bytes long")
	}
	if c.TokenTTL, err = time.ParseDuration(*ttl); err != nil || c.TokenTTL < time.Minute {
		return Config{}, fmt.Errorf("TOKEN_TTL must be a duration of at least 1m such as 24h, got %q", *ttl)
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return Config{}, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", *level)
	}
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	c.Currency = strings.ToUpper(*currency)
	if len(c.Currency) != 3 {
		return Config{}, fmt.Errorf("CURRENCY must be a three-letter ISO 4217 code, got %q", *currency)
	}
	c.BaseURL = strings.TrimRight(*baseURL, "/")
	if c.BaseURL == "" {
		c.BaseURL = fmt.Sprintf("http://localhost:%d", c.Port)
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return Config{}, fmt.Errorf("BASE_URL must be an http(s) URL, got %q", *baseURL)
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return Config{}, fmt.Errorf("TRUSTED_PROXIES: %q is neither an IP address nor a CIDR", p)
			}
			prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
	}
	for _, r := range rates {
		rate, err := ratelimit.ParseRate(*r.value)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %v, got %q", r.env, err, *r.value)
		}
		*r.dst = rate
	}
	if c.AllowPrivateURLs, err = strconv.ParseBool(*privateURLs); err != nil {
		return Config{}, fmt.Errorf("ALLOW_PRIVATE_URLS must be true or false, got %q", *privateURLs)
	}
	if c.Introspection, err = strconv.ParseBool(*introspection); err != nil {
		return Config{}, fmt.Errorf("INTROSPECTION must be true or false, got %q", *introspection)
	}
	if w := strings.TrimSpace(*viewerWindow); w != "off" {
		if c.ClickViewerWindow, err = time.ParseDuration(w); err != nil || c.ClickViewerWindow < 0 {
			return Config{}, fmt.Errorf("CLICK_VIEWER_WINDOW must be a duration such as 24h, or off, got %q", *viewerWindow)
		}
	}
	if c.LiveSubscriptionsPerUser, err = strconv.Atoi(*liveMax); err != nil || c.LiveSubscriptionsPerUser < 1 || c.LiveSubscriptionsPerUser > 1000 {
		return Config{}, fmt.Errorf("LIVE_SUBSCRIPTIONS_PER_USER must be a number from 1 to 1000, got %q", *liveMax)
	}
	if c.ProjectionPartitions, err = strconv.Atoi(*partitions); err != nil || c.ProjectionPartitions < 1 || c.ProjectionPartitions > 256 {
		return Config{}, fmt.Errorf("PROJECTION_PARTITIONS must be a number from 1 to 256, got %q", *partitions)
	}
	if c.PostbackAllowPrivate, err = strconv.ParseBool(*postbackPrivate); err != nil {
		return Config{}, fmt.Errorf("POSTBACK_ALLOW_PRIVATE must be true or false, got %q", *postbackPrivate)
	}
	if c.HoldDays, err = strconv.Atoi(*holdDays); err != nil || c.HoldDays < 0 || c.HoldDays > domain.MaxHoldDays {
		return Config{}, fmt.Errorf("HOLD_DAYS must be a number of days from 0 to %d, got %q", domain.MaxHoldDays, *holdDays)
	}
	if m, perr := domain.ParseDecimal(*payoutMinimum); perr != nil || m < domain.Micros(10_000) {
		return Config{}, fmt.Errorf("PAYOUT_MINIMUM must be an amount of at least 0.01 such as 10.00, got %q", *payoutMinimum)
	} else {
		c.PayoutMinimum = m
	}
	return c, nil
}

type rateFlag struct {
	env, flag, def, usage string
	dst                   *ratelimit.Rate
	value                 *string
}

type flagValues struct {
	port, uri, db, dataDir, secret, ttl, level, origins    *string
	currency, baseURL, proxies, privateURLs, introspection *string
	viewerWindow, liveMax, postbackPrivate, listenAddr     *string
	holdDays, payoutMinimum                                *string
	partitions                                             *string
	rates                                                  []rateFlag
}

// RequireSecret is serve's own check: on MongoDB the server signs session
// tokens with JWT_SECRET and has nowhere to keep one of its own. The other
// commands (make-admin, verify, migrate) sign nothing and run without it.
func (c Config) RequireSecret() error {
	if c.MongoURI != "" && c.JWTSecret == "" {
		return errors.New("JWT_SECRET is required with MONGODB_URI (at least 32 bytes, e.g. `openssl rand -hex 32`)")
	}
	return nil
}

// define declares every flag, each defaulting to its variable's value in
// getenv (or the built-in default), and where each rate goes in c.
func define(getenv func(string) string, c *Config) (*flag.FlagSet, *flagValues) {
	fs := flag.NewFlagSet("tally", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	port := fs.String("port", env("PORT", "8080"), "TCP port to listen on")
	listenAddr := fs.String("listen-addr", env("LISTEN_ADDR", ""), "IP address to listen on, such as 127.0.0.1 or ::1 (the port is PORT); unset listens on every interface")
	uri := fs.String("mongodb-uri", env("MONGODB_URI", ""), "MongoDB URI; empty runs the embedded store")
	db := fs.String("mongodb-database", env("MONGODB_DATABASE", "tally"), "database name")
	dataDir := fs.String("data-dir", env("DATA_DIR", "./data"), "embedded store directory")
	secret := fs.String("jwt-secret", env("JWT_SECRET", ""), "HS256 signing key (at least 32 bytes)")
	ttl := fs.String("token-ttl", env("TOKEN_TTL", "24h"), "session token lifetime")
	level := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error")
	origins := fs.String("cors-origins", env("CORS_ORIGINS", ""), "comma-separated browser origins allowed to call the API, or *")
	currency := fs.String("currency", env("CURRENCY", "USD"), "the platform's currency (ISO 4217)")
	baseURL := fs.String("base-url", env("BASE_URL", ""), "public URL of this server (default http://localhost:PORT)")
	proxies := fs.String("trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed")
	rates := []rateFlag{
		{env: "LOGIN_LIMIT_PER_ACCOUNT", flag: "login-limit-per-account", def: "10/15m", usage: "log-in (and changePassword) attempts on one email, N/duration or off; a successful log-in resets it", dst: &c.LogInPerAccount},
		{env: "LOGIN_LIMIT_PER_ADDRESS", flag: "login-limit-per-address", def: "50/15m", usage: "log-in attempts from one client address, N/duration or off", dst: &c.LogInPerAddress},
		{env: "SIGNUP_LIMIT_PER_ADDRESS", flag: "signup-limit-per-address", def: "10/1h", usage: "sign-ups from one client address, N/duration or off", dst: &c.SignUpPerAddress},
		{env: "TOKEN_LIMIT_PER_TOKEN", flag: "token-limit-per-token", def: "600/1m", usage: "public requests with one browser source token, N/duration or off", dst: &c.TokenPerToken},
		{env: "TOKEN_LIMIT_PER_ADDRESS", flag: "token-limit-per-address", def: "120/1m", usage: "public token requests from one client address, N/duration or off", dst: &c.TokenPerAddress},
		{env: "CLICK_LIMIT_PER_TOKEN", flag: "click-limit-per-token", def: "60/1m", usage: "clicks on one participation beyond N/duration are invalid traffic (counted, never billed), or off", dst: &c.ClickPerToken},
		{env: "EXPORT_LIMIT_PER_USER", flag: "export-limit-per-user", def: "30/1h", usage: "event exports (CSV) one user may start, N/duration or off", dst: &c.ExportPerUser},
	}
	for i := range rates {
		r := &rates[i]
		r.value = fs.String(r.flag, env(r.env, r.def), r.usage)
	}
	privateURLs := fs.String("allow-private-urls", env("ALLOW_PRIVATE_URLS", "false"), "accept landing and postback URLs on private addresses")
	introspection := fs.String("introspection", env("INTROSPECTION", "true"), "answer GraphQL introspection (GraphiQL needs it)")
	viewerWindow := fs.String("click-viewer-window", env("CLICK_VIEWER_WINDOW", "24h"), "one viewer's clicks on a participation are billable once per this sliding window, or off")
	liveMax := fs.String("live-subscriptions-per-user", env("LIVE_SUBSCRIPTIONS_PER_USER", "10"), "live subscriptions (and WebSocket connections) one user may hold at once, 1-1000")
	partitions := fs.String("projection-partitions", env("PROJECTION_PARTITIONS", "8"), "how many partitions a new database is projected in, 1-256 (a database keeps the number of its first start)")
	postbackPrivate := fs.String("postback-allow-private", env("POSTBACK_ALLOW_PRIVATE", "false"), "let outbound postbacks reach private addresses (tests, private deployments)")
	holdDays := fs.String("hold-days", env("HOLD_DAYS", "30"), "days billed money is held before it is payable, for campaigns without their own holdDays, 0-365")
	payoutMinimum := fs.String("payout-minimum", env("PAYOUT_MINIMUM", "10.00"), "the least available balance a payout run pays")
	return fs, &flagValues{holdDays: holdDays, payoutMinimum: payoutMinimum, port: port, uri: uri, db: db, dataDir: dataDir, secret: secret, ttl: ttl, level: level, origins: origins,
		currency: currency, baseURL: baseURL, proxies: proxies, rates: rates, privateURLs: privateURLs, introspection: introspection,
		viewerWindow: viewerWindow, liveMax: liveMax, postbackPrivate: postbackPrivate, listenAddr: listenAddr, partitions: partitions}
}

// parseListenAddr reads LISTEN_ADDR: an IP address of this machine (IPv6
// with or without brackets), without a port, which PORT gives; empty is
// every interface. Host names are refused: one resolving to several
// addresses would listen on only one of them.
func parseListenAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return "", fmt.Errorf("LISTEN_ADDR must be an IP address without a port (the port is PORT), such as 127.0.0.1 or ::1, or unset for every interface, got %q", s)
	}
	return a.String(), nil
}

// Addr is the address to listen on: LISTEN_ADDR and PORT, as net.Listen
// takes it (":8080" for every interface).
func (c Config) Addr() string {
	return net.JoinHostPort(c.ListenAddr, strconv.Itoa(c.Port))
}

// EnvName is the variable of the setting whose flag is name: the flag in
// capitals with underscores (-mongodb-uri is MONGODB_URI).
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Usage writes every setting: its flag, its variable, its built-in default
// and what it means. No value from the environment is shown (a secret could
// be one).
func Usage(w io.Writer) {
	var c Config
	fs, _ := define(func(string) string { return "" }, &c)
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  -%s, %s (default: %s)\n        %s\n", f.Name, EnvName(f.Name), def, f.Usage)
	})
}

// Flags are the names of every flag.
func Flags() []string {
	var c Config
	fs, _ := define(func(string) string { return "" }, &c)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}
