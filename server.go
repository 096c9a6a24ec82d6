// Command tally serves Tally's GraphQL API.
//
//	go run .                      serve (embedded store under ./data unless MONGODB_URI is set)
//	go run . make-admin EMAIL     make an existing user an admin
//	go run . verify [-repair]     check every counter and amount against the stored events
//	go run . migrate --to URI     copy the embedded store (DATA_DIR) to MongoDB at URI
//	go run . version              print the version
//	go run . --help               list every command, flag and variable
//
// Configuration comes from the environment or flags of the same meaning; see
// package config and the README.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "time/tzdata" // blackout periods and validation need zone data even where the OS has none

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/crypto/bcrypt"

	"tally/accounts"
	"tally/auth"
	"tally/campaigns"
	"tally/config"
	"tally/domain"
	"tally/httpapi"
	"tally/live"
	"tally/loaders"
	"tally/metrics"
	"tally/overlay"
	"tally/postback"
	"tally/projection"
	"tally/ratelimit"
	"tally/reports"
	"tally/repository"
	"tally/resolvers"
	"tally/tracing"
	"tally/tracking"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tally:", err)
		os.Exit(1)
	}
}

// run dispatches to a server command; the default is serve.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			cmd = "help"
		}
	}
	switch cmd {
	case "help":
		usage(stdout)
		return nil
	case "version":
		fmt.Fprintln(stdout, "tally", version())
		return nil
	}
	var migrateTo string
	if cmd == "migrate" {
		migrateTo, args = takeFlag(args, "to")
	}
	cfg, err := config.Load(args, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	switch cmd {
	case "serve":
		if len(cfg.Args) > 0 {
			return fmt.Errorf("unexpected argument %q", cfg.Args[0])
		}
		return serve(ctx, cfg, getenv, log)
	case "verify":
		repair := false
		for _, a := range cfg.Args {
			if a != "-repair" && a != "--repair" {
				return fmt.Errorf("unexpected argument %q (usage: tally verify [-repair])", a)
			}
			repair = true
		}
		return verify(ctx, cfg, log, stdout, repair)
	case "make-admin":
		if len(cfg.Args) != 1 {
			return errors.New("usage: tally make-admin EMAIL")
		}
		return makeAdmin(ctx, cfg, cfg.Args[0], stdout)
	case "migrate":
		if migrateTo == "" || len(cfg.Args) > 0 {
			return errors.New("usage: tally migrate --to MONGODB_URI (copies the embedded store in DATA_DIR to that deployment's MONGODB_DATABASE)")
		}
		return migrate(ctx, cfg, migrateTo, stdout)
	default:
		return fmt.Errorf("unknown command %q (commands: %s; tally --help lists them)", cmd, strings.Join(commandNames(), ", "))
	}
}

// commands are the server's commands, for --help.
var commands = []struct{ name, usage string }{
	{"serve", "serve the API (the default): GraphQL at /query, GraphiQL at /, /healthz, /readyz, /metrics"},
	{"make-admin EMAIL", "give an existing account the ADMIN role"},
	{"verify [-repair]", "check every counter and amount against the stored events; -repair rewrites what drifted"},
	{"migrate --to URI", "copy the embedded store in DATA_DIR to the MongoDB deployment at URI"},
	{"version", "print the version, the commit it was built from and the Go version"},
	{"help", "print this help (also -h, --help)"},
}

func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i], _, _ = strings.Cut(c.name, " ")
	}
	return names
}

// usage is tally --help: every command, setting (flag and variable) and the
// OpenTelemetry variables.
func usage(w io.Writer) {
	fmt.Fprintf(w, "tally %s: the Tally GraphQL API server\n\nUsage: tally [COMMAND] [FLAGS]\n\nCommands:\n", version())
	for _, c := range commands {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.usage)
	}
	fmt.Fprint(w, "\nSettings: each is a flag or an environment variable of the same meaning; the flag wins.\n")
	config.Usage(w)
	fmt.Fprint(w, "\nTracing (OpenTelemetry; off unless one of the first three asks for it):\n")
	for _, v := range tracing.Variables {
		fmt.Fprintf(w, "  %s\n        %s\n", v.Name, v.Meaning)
	}
	fmt.Fprint(w, "\nGo runtime (the server's defaults differ from Go's):\n")
	for _, v := range runtimeVariables {
		fmt.Fprintf(w, "  %s\n        %s\n", v.Name, v.Meaning)
	}
	fmt.Fprint(w, "\nSee README.md for each setting's details.\n")
}

// version is the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := v
	if rev != "" {
		out += " (" + rev + dirty
		if when != "" {
			out += ", " + when
		}
		out += ")"
	}
	return out + " " + bi.GoVersion
}

// app is the wired server: the store, the HTTP handler over it, and the
// projector that runs beside it until stop.
type app struct {
	store     *repository.Store
	handler   http.Handler
	projector *projection.Projector
	tracking  *tracking.Service
	live      *live.Broker // ends live subscriptions at shutdown
	// metrics are the server's Prometheus instruments (/metrics); the
	// postback sender counts its deliveries with metrics.PostbackDelivery.
	metrics *metrics.Metrics
	stop    func() // ends live subscriptions, stops the projector and the sender, letting a batch under way finish
}

// appOptions are the knobs tests turn; production uses the zero value.
type appOptions struct {
	store      *repository.Store // an open store to use instead of the configured one
	bcryptCost int
	now        func() time.Time
	limits     httpapi.Limits
	projector  projection.Options
	postback   postback.Options // the postback sender's (AllowPrivate comes from the configuration)
	// manualProjection leaves the projector's loop off: the caller projects
	// with app.projector.Flush (tests that count store calls).
	manualProjection bool
	// tracer traces requests (serve: from the OTEL_* variables); nil: off.
	tracer trace.TracerProvider
}

// openStore opens the configured store and ensures its indexes.
func openStore(ctx context.Context, cfg config.Config) (*repository.Store, error) {
	store, err := repository.Open(ctx, repository.Options{URI: cfg.MongoURI, Database: cfg.Database, DataDir: cfg.DataDir})
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store.EnsureIndexes(ictx); err != nil {
		_ = store.Close(context.Background())
		return nil, err
	}
	return store, nil
}

// newApp wires configuration, store, repositories, services and the HTTP
// handler, in that order.
func newApp(ctx context.Context, cfg config.Config, log *slog.Logger, opts appOptions) (*app, error) {
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.bcryptCost == 0 {
		opts.bcryptCost = bcrypt.DefaultCost
	}
	store := opts.store
	hadStore := true // a store given by the caller, or MongoDB: nothing to check
	if store == nil {
		hadStore = checkStoreFile(cfg, log)
		var err error
		if store, err = openStore(ctx, cfg); err != nil {
			return nil, err
		}
	}
	secret, err := jwtSecret(cfg, hadStore, log)
	if err != nil {
		_ = store.Close(context.Background())
		return nil, err
	}
	tokens := auth.NewTokens(secret, cfg.TokenTTL, opts.now)
	users := repository.NewUsers(store)
	campaignsRepo := repository.NewCampaigns(store)
	participations := repository.NewParticipations(store)
	// The projector tells the live broker which campaigns and participations
	// each batch touched; subscriptions re-read them.
	// After each batch the projector tells the live broker which campaigns
	// and participations it touched (subscriptions re-read them) and wakes
	// the postback sender for what it enqueued.
	broker := live.NewBroker(cfg.LiveSubscriptionsPerUser)
	m := metrics.New()
	opts.postback.AllowPrivate = opts.postback.AllowPrivate || cfg.PostbackAllowPrivate
	opts.postback.Observe = m.PostbackDelivery
	sender := postback.New(store, log, opts.postback)
	popts := opts.projector
	hook := popts.OnApplied
	popts.OnApplied = func(b domain.Batch) {
		if hook != nil {
			hook(b)
		}
		broker.Applied(b)
		sender.Notify()
	}
	popts.Filter = clickFilter(cfg)
	popts.Currency = cfg.Currency
	projector := newProjector(store, log, popts)
	accountService := &accounts.Service{Users: users, APIKeys: repository.NewAPIKeys(store), Tokens: tokens,
		Passwords: auth.NewPasswords(opts.bcryptCost), Now: opts.now,
		LogInPerAccount:  repository.NewRateLimiter(store, "login-account", cfg.LogInPerAccount.Burst, cfg.LogInPerAccount.Per, opts.now),
		LogInPerAddress:  repository.NewRateLimiter(store, "login-address", cfg.LogInPerAddress.Burst, cfg.LogInPerAddress.Per, opts.now),
		SignUpPerAddress: repository.NewRateLimiter(store, "signup-address", cfg.SignUpPerAddress.Burst, cfg.SignUpPerAddress.Per, opts.now)}
	campaignService := &campaigns.Service{Campaigns: campaignsRepo, Participations: participations,
		NewToken: auth.NewBrowserSourceToken, Now: opts.now,
		URLs:   domain.PublicURLs{AllowPrivate: cfg.AllowPrivateURLs, Lookup: lookupHost},
		Outbox: repository.NewOutbox(store), NewSecret: postback.NewSecret}
	overlays := &overlay.Service{Users: users, Participations: participations, Campaigns: campaignsRepo,
		Slots: repository.NewSlots(store), NewToken: auth.NewBrowserSourceToken, Now: opts.now, Log: log}
	trackingService := &tracking.Service{Participations: participations, Campaigns: campaignsRepo,
		Clicks: repository.NewClicks(store), Conversions: repository.NewConversions(store),
		Impressions: repository.NewImpressions(store), Overlay: overlays, Notify: projector.Notify,
		Viewers: auth.NewViewers(secret), Now: opts.now}
	reportService := &reports.Service{Campaigns: campaignsRepo, Participations: participations,
		Conversions: trackingService.Conversions, Buckets: repository.NewDailyStats(store)}
	res := &resolvers.Resolver{
		Accounts:        accountService,
		CampaignService: campaignService,
		Tracking:        trackingService,
		Reports:         reportService,
		Auditor:         &projection.Auditor{Store: repository.NewProjection(store)},
		Overlays:        overlays,
		Live:            &live.Service{Broker: broker, Campaigns: campaignService, Log: log},
		Currency:        cfg.Currency,
		BaseURL:         cfg.BaseURL,
	}
	m.ObserveStore(store.Calls, store.ProjectorCalls)
	backlog := projection.NewMonitor(repository.NewBacklog(store), log, opts.now)
	m.ObserveBacklog(func() metrics.Backlog {
		b, _ := backlog.Backlog(context.Background()) // on an error, the last read
		return metrics.Backlog{Pending: b.Pending, OldestAge: b.OldestAge}
	})
	m.ObserveProjection(func() metrics.Lag {
		l := projector.Lag()
		return metrics.Lag{Events: l.Events, Last: l.Last, P99: l.P99, Max: l.Max}
	})
	h := httpapi.New(httpapi.Deps{
		Metrics:         m,
		Tracer:          opts.tracer,
		Resolver:        res,
		PerRequest:      loaders.Inject(users, campaignsRepo, participations),
		APIKeys:         accountService,
		Tracking:        trackingService,
		Tokens:          tokens,
		Users:           users,
		Store:           store,
		Log:             log,
		Limits:          opts.limits,
		CORSOrigins:     cfg.CORSOrigins,
		NoIntrospection: !cfg.Introspection,
		Projection:      projector,
		Backlog:         backlog,
		TokenLimits: httpapi.TokenLimits{PerToken: ratelimit.New(cfg.TokenPerToken, opts.now),
			PerAddress: ratelimit.New(cfg.TokenPerAddress, opts.now)},
		TrustedProxies: cfg.TrustedProxies,
		// Each user's WebSocket connections, as their subscriptions, are
		// bounded by LIVE_SUBSCRIPTIONS_PER_USER.
		LiveConnections: broker,
	})
	// The projector outlives any request; it starts by finishing whatever a
	// previous process left pending or in flight.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	if opts.manualProjection {
		close(done)
	} else {
		go func() {
			defer close(done)
			go releaseHolds(pctx, trackingService, log)
			projector.Run(pctx)
		}()
		projector.Notify()
	}
	// The postback sender, beside it, sends what the projector enqueued.
	sent := make(chan struct{})
	go func() { defer close(sent); sender.Run(pctx) }()
	go backlog.Watch(pctx) // every process logs the lag it sees
	stop := func() { broker.Close(); cancel(); <-done; <-sent }
	return &app{store: store, handler: h, projector: projector, tracking: trackingService, live: broker, metrics: m, stop: sync.OnceFunc(stop)}, nil
}

// holdReleaseEvery is how often a server approves the conversions whose
// goal's hold has ended.
const holdReleaseEvery = 5 * time.Second

// releaseHolds approves held conversions as their holds end, until ctx
// ends. Every server may run it: each conversion's approval is one guarded
// update.
func releaseHolds(ctx context.Context, t *tracking.Service, log *slog.Logger) {
	tick := time.NewTicker(holdReleaseEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.ReleaseHolds(ctx); err != nil && ctx.Err() == nil {
				log.Error("releasing held conversions failed; retried shortly", "err", err.Error())
			}
		}
	}
}

// clickFilter is the invalid-traffic rules the configuration sets.
func clickFilter(cfg config.Config) domain.ClickFilter {
	return domain.ClickFilter{ViewerWindow: cfg.ClickViewerWindow, PerToken: cfg.ClickPerToken.Burst, RateWindow: cfg.ClickPerToken.Per}
}

// newProjector is the projector over store. On the embedded store only one
// process can ever open the data, so the projector's lease has one fixed
// owner: a restarted server takes over at once instead of waiting for the
// crashed one's lease to expire.
func newProjector(store *repository.Store, log *slog.Logger, o projection.Options) *projection.Projector {
	if o.Owner == "" && store.Embedded() {
		o.Owner = "embedded"
	}
	return projection.New(repository.NewProjection(store), log, o)
}

// lookupHost resolves a campaign URL's host for the public-address rule,
// within a few seconds.
func lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// storeFile is the embedded store's file in DATA_DIR (repository.Open's
// name for it).
const storeFile = "tally.lungo"

// checkStoreFile reports whether the embedded store's file exists before it
// is opened, and warns when it is missing next to existing data (a
// jwt_secret from an earlier start): the store then starts empty, which
// means its data was moved or deleted, or DATA_DIR points somewhere else.
// It reports true for MongoDB.
func checkStoreFile(cfg config.Config, log *slog.Logger) bool {
	if cfg.MongoURI != "" {
		return true
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, storeFile)); err == nil {
		return true
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "jwt_secret")); err == nil {
		log.Warn("the store file is missing next to existing data: starting with an EMPTY store. "+
			"If this server has run on this DATA_DIR before, its data was moved or deleted; stop it and restore "+storeFile+" (or fix DATA_DIR).",
			"data_dir", cfg.DataDir, "missing", storeFile)
	}
	return false
}

// jwtSecret returns JWT_SECRET, or in embedded mode a secret kept in
// DATA_DIR/jwt_secret, created on first start, so tokens survive restarts.
// A secret file that is unreadable or too short, or missing next to an
// existing store, is replaced, with a warning: every session token issued
// before stops working. The secret itself is never logged.
func jwtSecret(cfg config.Config, hadStore bool, log *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	path := filepath.Join(cfg.DataDir, "jwt_secret")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(strings.TrimSpace(string(b))) >= 32:
		return []byte(strings.TrimSpace(string(b))), nil
	case err == nil:
		log.Warn("DATA_DIR/jwt_secret is damaged (shorter than 32 bytes) and is replaced by a new secret: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path)
	case !errors.Is(err, fs.ErrNotExist):
		log.Warn("DATA_DIR/jwt_secret cannot be read and is replaced by a new secret: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path, "err", err.Error())
	case hadStore:
		log.Warn("DATA_DIR/jwt_secret is missing next to an existing store and a new secret is created: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(secret), nil
}

// serve runs the HTTP server until ctx is cancelled (SIGINT or SIGTERM), then
// drains in-flight requests and closes the store.
func serve(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	gogc, memoryLimit, restoreGC := tuneGC(getenv, log)
	defer restoreGC()
	tp, shutdownTracing, err := tracing.FromEnv(ctx, getenv)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx) // flushes the last spans
	}()
	a, err := newApp(ctx, cfg, log, appOptions{tracer: tp})
	if err != nil {
		return err
	}
	defer a.store.Close(context.Background())
	defer a.stop()

	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s (LISTEN_ADDR, PORT): %w", cfg.Addr(), err)
	}
	srv := newHTTPServer(a.handler)
	// Live streams (SSE, WebSocket) last as long as their clients: end them
	// when shutdown begins, or Shutdown would wait for them.
	srv.RegisterOnShutdown(a.live.Close)
	store := "embedded (" + cfg.DataDir + ")"
	if cfg.MongoURI != "" {
		store = "mongodb (" + cfg.Database + ")"
	}
	log.Info("tally listening", "addr", ln.Addr().String(), "graphiql", cfg.BaseURL+"/", "store", store,
		"version", version(), "tracing", tp != nil, "introspection", cfg.Introspection, "gogc", gogc, "memoryLimitBytes", memoryLimit)
	// The embedded store slows as it grows: say so at start-up and as it
	// grows, naming the way out.
	go a.store.WatchSize(ctx, time.Minute, func(docs, bytes int64) {
		log.Warn(repository.EmbeddedWarning(docs, bytes), "documents", docs, "bytes", bytes)
	})

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Project what the last requests recorded, so the counters are whole at
	// exit; what does not fit in the time is finished at the next start.
	if err := a.projector.Flush(sctx); err != nil {
		log.Warn("projection not finished at shutdown; the next start finishes it", "err", err.Error())
	}
	return nil
}

// newHTTPServer is the server `tally` listens with: its timeouts bound what a
// slow client can hold, and its header limit what one can send.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// makeAdmin gives an existing account the ADMIN role. Admins are never made
// through the API.
func makeAdmin(ctx context.Context, cfg config.Config, email string, stdout io.Writer) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	u, err := repository.NewUsers(store).SetRole(ctx, domain.NormalizeEmail(email), domain.RoleAdmin)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return errors.New(domain.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s) is now an admin; it takes effect at once, on their existing sessions too\n", u.Email, u.ID)
	return nil
}

// verify recomputes every counter and amount from the stored events and
// prints the drift, which must be none; it fails when there is some. It
// only reads, so on MongoDB it runs beside live servers (the embedded store
// is one process's: stop the server first, or ask a running one with the
// verify query). With repair it first projects everything pending, then
// rewrites what drifted: for damaged data, with every server stopped.
func verify(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, repair bool) error {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	proj := repository.NewProjection(store)
	var rep domain.VerifyReport
	if repair {
		rep, err = projection.Repair(ctx, proj, newProjector(store, log, projection.Options{Filter: clickFilter(cfg)}), stdout)
	} else {
		rep, err = projection.Verify(ctx, proj)
	}
	if err != nil {
		return err
	}
	if !repair {
		for _, line := range rep.Drift {
			fmt.Fprintln(stdout, line)
		}
	}
	fmt.Fprintf(stdout, "verified %d events (%d pending) against %d counters: %d drifted, %d repaired\n",
		rep.Events, rep.Pending, rep.Counters, len(rep.Drift), rep.Repaired)
	if !rep.OK() && !repair {
		return fmt.Errorf("%d counters differ from the events; `tally verify -repair` rewrites them (stop every server first)", len(rep.Drift))
	}
	return nil
}

// takeFlag removes -name VALUE, --name VALUE, -name=VALUE or --name=VALUE
// from args and returns VALUE and the rest.
func takeFlag(args []string, name string) (string, []string) {
	var value string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		switch {
		case a == name && len(args[i]) > len(a) && i+1 < len(args):
			value = args[i+1]
			i++
		case strings.HasPrefix(a, name+"=") && len(args[i]) > len(a):
			value = strings.TrimPrefix(a, name+"=")
		default:
			rest = append(rest, args[i])
		}
	}
	return value, rest
}

// migrate copies the embedded store in DATA_DIR to the MongoDB deployment at
// to (database MONGODB_DATABASE), then says how to start on it. The server
// must be stopped: the data directory's lock refuses a second process.
func migrate(ctx context.Context, cfg config.Config, to string, stdout io.Writer) error {
	if cfg.MongoURI != "" {
		return errors.New("migrate copies the embedded store in DATA_DIR to --to: unset MONGODB_URI")
	}
	file := filepath.Join(cfg.DataDir, repository.DataFile)
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("no embedded store to migrate: %w", err)
	}
	src, err := repository.Open(ctx, repository.Options{Database: cfg.Database, DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer src.Close(context.Background())
	dst, err := repository.Open(ctx, repository.Options{URI: to, Database: cfg.Database})
	if err != nil {
		return err
	}
	defer dst.Close(context.Background())
	fmt.Fprintf(stdout, "migrate: %s -> database %q on the deployment given\n", file, cfg.Database)
	if _, err := repository.Migrate(ctx, src, dst, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrate: done. Start the server with MONGODB_URI set to that deployment, MONGODB_DATABASE=%s "+
		"and JWT_SECRET set to the contents of %s (so that issued tokens stay valid).\n",
		cfg.Database, filepath.Join(cfg.DataDir, "jwt_secret"))
	return nil
}
