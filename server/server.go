// Package server is the Tally server: New wires configuration, store,
// repositories, services and the HTTP handler into an App; Run is the
// command line (serve, make-admin, verify, migrate, version, help), which
// package main calls and nothing else. See docs/decisions.md, "The house in
// order: what moved and why".
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/crypto/bcrypt"

	"tally/accounts"
	"tally/auth"
	"tally/campaigns"
	"tally/domain"
	"tally/foundation/ratelimit"
	"tally/foundation/tracing"
	"tally/httpapi"
	"tally/httpapi/metrics"
	"tally/live"
	"tally/overlay"
	"tally/payouts"
	"tally/postback"
	"tally/projection"
	"tally/reports"
	"tally/repository"
	"tally/resolvers"
	"tally/resolvers/loaders"
	"tally/server/config"
	"tally/tracking"
)

// App is the wired server: the store, the HTTP handler over it, and the
// projector and postback sender that run beside it until Stop. serve runs
// one; the system tests (test/e2e) run one per test, behind an
// httptest.Server, and read its parts to wait for and check what a request
// did.
type App struct {
	Store     *repository.Store
	Handler   http.Handler // every route: /query, /, /healthz, /readyz, /metrics, /postback, /overlay…
	Projector *projection.Projector
	Tracking  *tracking.Service
	Live      *live.Broker // ends live subscriptions at shutdown
	// Metrics are the server's Prometheus instruments (/metrics); the
	// postback sender counts its deliveries with metrics.PostbackDelivery.
	Metrics *metrics.Metrics
	stop    func()
}

// Stop ends live subscriptions and stops the projector and the postback
// sender, letting a batch under way finish. It does not close the store
// (the caller opened it, or closes App.Store). Stop may be called more than
// once.
func (a *App) Stop() { a.stop() }

// Options are what a caller may change about the server New wires; serve
// uses the zero value but for Tracer. Every field is optional.
type Options struct {
	// Store is an open store to use instead of the configured one; the
	// caller closes it.
	Store *repository.Store
	// BcryptCost is the password hash's cost (default bcrypt.DefaultCost;
	// tests use bcrypt.MinCost).
	BcryptCost int
	// Now is the clock of tokens, rate limits, campaigns and tracking
	// (default time.Now; tests freeze and advance it).
	Now func() time.Time
	// Limits are the GraphQL request limits (zero: httpapi's defaults).
	Limits httpapi.Limits
	// Projector are the projector's options; New sets Filter, Currency and
	// wraps OnApplied (it still calls a hook given here first).
	Projector projection.Options
	// Postback are the postback sender's options (AllowPrivate comes from
	// the configuration too).
	Postback postback.Options
	// ManualProjection leaves the projector's loop and the hold ticker off:
	// the caller projects with App.Projector.Flush (tests that count store
	// calls).
	ManualProjection bool
	// Tracer traces requests (serve: from the OTEL_* variables); nil: off.
	Tracer trace.TracerProvider
	// ExportPageSize is how many events of a kind the event export reads
	// per store call (0: reports.DefaultExportPageSize); tests make it
	// small to export in many pages.
	ExportPageSize int
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

// New wires configuration, store, repositories, services and the HTTP
// handler, in that order, and starts the projector (unless
// opts.ManualProjection), the hold ticker and the postback sender. Without
// opts.Store it opens the configured store (DATA_DIR or MONGODB_URI); the
// caller closes App.Store after App.Stop.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts Options) (*App, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	store := opts.Store
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
	tokens := auth.NewTokens(secret, cfg.TokenTTL, opts.Now)
	users := repository.NewUsers(store)
	campaignsRepo := repository.NewCampaigns(store)
	participations := repository.NewParticipations(store)
	// After each batch the projector tells the live broker which campaigns
	// and participations it touched (subscriptions re-read them) and wakes
	// the postback sender for what it enqueued.
	broker := live.NewBroker(cfg.LiveSubscriptionsPerUser)
	m := metrics.New()
	opts.Postback.AllowPrivate = opts.Postback.AllowPrivate || cfg.PostbackAllowPrivate
	opts.Postback.Observe = m.PostbackDelivery
	sender := postback.New(store, log, opts.Postback)
	popts := opts.Projector
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
	popts.HoldDays = cfg.HoldDays
	if popts.Partitions == 0 {
		popts.Partitions = cfg.ProjectionPartitions
	}
	projector := newProjector(store, log, popts)
	// Learn (or, on a new database, record) how many partitions events are
	// projected in before any request stores one.
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = projector.Setup(sctx)
	scancel()
	if err != nil {
		return nil, err
	}
	accountService := &accounts.Service{Users: users, APIKeys: repository.NewAPIKeys(store), Tokens: tokens,
		Passwords: auth.NewPasswords(opts.BcryptCost), Now: opts.Now,
		LogInPerAccount:  repository.NewRateLimiter(store, "login-account", cfg.LogInPerAccount.Burst, cfg.LogInPerAccount.Per, opts.Now),
		LogInPerAddress:  repository.NewRateLimiter(store, "login-address", cfg.LogInPerAddress.Burst, cfg.LogInPerAddress.Per, opts.Now),
		SignUpPerAddress: repository.NewRateLimiter(store, "signup-address", cfg.SignUpPerAddress.Burst, cfg.SignUpPerAddress.Per, opts.Now)}
	campaignService := &campaigns.Service{Campaigns: campaignsRepo, Participations: participations,
		NewToken: auth.NewBrowserSourceToken, Now: opts.Now,
		URLs:   domain.PublicURLs{AllowPrivate: cfg.AllowPrivateURLs, Lookup: lookupHost},
		Outbox: repository.NewOutbox(store), Alerts: repository.NewAlerts(store), NewSecret: postback.NewSecret}
	overlays := &overlay.Service{Users: users, Participations: participations, Campaigns: campaignsRepo,
		Slots: repository.NewSlots(store), CapSpend: repository.NewCapSpend(store), NewToken: auth.NewBrowserSourceToken, Now: opts.Now, Log: log}
	trackingService := &tracking.Service{Participations: participations, Campaigns: campaignsRepo,
		Clicks: repository.NewClicks(store), Conversions: repository.NewConversions(store),
		Impressions: repository.NewImpressions(store), Overlay: overlays, Notify: projector.Notify,
		Viewers: auth.NewViewers(secret), Now: opts.Now}
	reportService := &reports.Service{Campaigns: campaignsRepo, Participations: participations,
		Conversions: trackingService.Conversions, Buckets: repository.NewDailyStats(store), Quarters: repository.NewReportBuckets(store)}
	payoutService := &payouts.Service{Earnings: repository.NewEarnings(store), Payouts: repository.NewPayouts(store), Users: users,
		Campaigns: campaignService, Minimum: cfg.PayoutMinimum, Currency: cfg.Currency, Now: opts.Now, Log: log}
	exports := &reports.Exports{Campaigns: campaignsRepo, Participations: participations, Events: repository.NewEventExport(store),
		PerUser:  repository.NewRateLimiter(store, "export-user", cfg.ExportPerUser.Burst, cfg.ExportPerUser.Per, opts.Now),
		PageSize: opts.ExportPageSize}
	res := &resolvers.Resolver{
		Accounts:        accountService,
		CampaignService: campaignService,
		Tracking:        trackingService,
		Reports:         reportService,
		Auditor:         &projection.Auditor{Store: repository.NewProjection(store)},
		Overlays:        overlays,
		Live:            &live.Service{Broker: broker, Campaigns: campaignService, Users: users, Log: log},
		PayoutService:   payoutService,
		Currency:        cfg.Currency,
		BaseURL:         cfg.BaseURL,
		HoldDays:        cfg.HoldDays,
	}
	m.ObserveStore(store.Calls, store.ProjectorCalls)
	backlog := projection.NewMonitor(repository.NewBacklog(store), log, opts.Now)
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
		Tracer:          opts.Tracer,
		Resolver:        res,
		PerRequest:      loaders.Inject(users, campaignsRepo, participations),
		APIKeys:         accountService,
		Tracking:        trackingService,
		Exports:         exports,
		Tokens:          tokens,
		Users:           users,
		Store:           store,
		Log:             log,
		Limits:          opts.Limits,
		CORSOrigins:     cfg.CORSOrigins,
		NoIntrospection: !cfg.Introspection,
		Projection:      projector,
		Backlog:         backlog,
		TokenLimits: httpapi.TokenLimits{PerToken: ratelimit.New(cfg.TokenPerToken, opts.Now),
			PerAddress: ratelimit.New(cfg.TokenPerAddress, opts.Now)},
		TrustedProxies: cfg.TrustedProxies,
		// Each user's WebSocket connections, as their subscriptions, are
		// bounded by LIVE_SUBSCRIPTIONS_PER_USER.
		LiveConnections: broker,
		Payouts:         payoutService,
	})
	// The projector outlives any request; it starts by finishing whatever a
	// previous process left pending or in flight.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	if opts.ManualProjection {
		close(done)
	} else {
		go func() {
			defer close(done)
			go releaseHolds(pctx, trackingService, log)
			projector.Run(pctx)
		}()
		projector.Notify("")
	}
	// The postback sender, beside it, sends what the projector enqueued.
	sent := make(chan struct{})
	go func() { defer close(sent); sender.Run(pctx) }()
	go backlog.Watch(pctx) // every process logs the lag it sees
	// A payout run a crashed caller left unfinished finishes by itself.
	resumed := make(chan struct{})
	go func() { defer close(resumed); payoutService.ResumeEvery(pctx, payoutResumeEvery) }()
	// Batches applied by any process reach this one's live subscribers.
	go broker.Follow(pctx, repository.NewAppliedMark(store).Read, 0, log)
	stop := func() { broker.Close(); cancel(); <-done; <-sent; <-resumed }
	return &App{Store: store, Handler: h, Projector: projector, Tracking: trackingService, Live: broker, Metrics: m, stop: sync.OnceFunc(stop)}, nil
}

// holdReleaseEvery is how often a server approves the conversions whose
// goal's hold has ended.
const holdReleaseEvery = 5 * time.Second

// payoutResumeEvery is how often a server looks for an unfinished payout
// run to finish.
const payoutResumeEvery = time.Minute

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

// serve runs the HTTP server until ctx is cancelled (SIGINT or SIGTERM), then
// drains in-flight requests and closes the store.
func serve(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	gogc, memoryLimit, restoreGC := TuneGC(getenv, log)
	defer restoreGC()
	tp, shutdownTracing, err := tracing.FromEnv(ctx, getenv, "tally")
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx) // flushes the last spans
	}()
	a, err := New(ctx, cfg, log, Options{Tracer: tp})
	if err != nil {
		return err
	}
	defer a.Store.Close(context.Background())
	defer a.Stop()

	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s (LISTEN_ADDR, PORT): %w", cfg.Addr(), err)
	}
	srv := NewHTTPServer(a.Handler)
	// Live streams (SSE, WebSocket) last as long as their clients: end them
	// when shutdown begins, or Shutdown would wait for them.
	srv.RegisterOnShutdown(a.Live.Close)
	store := "embedded (" + cfg.DataDir + ")"
	if cfg.MongoURI != "" {
		store = "mongodb (" + cfg.Database + ")"
	}
	log.Info("tally listening", "addr", ln.Addr().String(), "graphiql", cfg.BaseURL+"/", "store", store,
		"version", version(), "tracing", tp != nil, "introspection", cfg.Introspection, "gogc", gogc, "memoryLimitBytes", memoryLimit)
	// The embedded store slows as it grows: say so at start-up and as it
	// grows, naming the way out.
	go a.Store.WatchSize(ctx, time.Minute, func(docs, bytes int64) {
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
	// On the embedded store this process is the only one: project what the
	// last requests recorded, so the counters are whole at exit (what does
	// not fit in the time is finished at the next start). Elsewhere other
	// processes project: Stop finishes the batches this one has under way
	// and hands its partitions over at once.
	if a.Store.Embedded() {
		if err := a.Projector.Flush(sctx); err != nil {
			log.Warn("projection not finished at shutdown; the next start finishes it", "err", err.Error())
		}
	}
	a.Stop()
	return nil
}

// NewHTTPServer is the server `tally` listens with: its timeouts bound what a
// slow client can hold, and its header limit what one can send. Benchmarks
// serve through it too, to measure what production runs.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
