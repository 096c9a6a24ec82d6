// Package postback sends the outbox's deliveries to partners: it claims each
// due delivery with a lease, expands the campaign's URL template, signs and
// sends the request, records the attempt, and retries failures on a ladder
// until the delivery arrives or the ladder runs out. See docs/postbacks.md.
package postback

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tally/domain"
	"tally/repository"
)

// DefaultLadder is the wait before each retry of a failed attempt: 7
// attempts over about 31 hours, then the delivery is failed.
var DefaultLadder = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultLease        = time.Minute
	DefaultPoll         = time.Second
	DefaultWorkers      = 4
	DefaultDisableAfter = 5
)

// Options are the sender's knobs; the zero value is production's.
type Options struct {
	// Ladder is the wait before each retry; after its last step a failed
	// attempt fails the delivery. Default DefaultLadder.
	Ladder []time.Duration
	// Timeout bounds one request, connection to last byte read (10 s).
	Timeout time.Duration
	// Lease is how long a claim holds a delivery (1 min): a sender that
	// stops or crashes mid-send leaves it to be claimed again after it. It
	// must exceed Timeout.
	Lease time.Duration
	// Poll is how often an idle sender looks for due deliveries (1 s).
	Poll time.Duration
	// Workers is how many deliveries are sent at once (4).
	Workers int
	// DisableAfter is the run of consecutive failed deliveries (ladder run
	// out) that disables a campaign's postbacks (5); negative never does.
	DisableAfter int
	// AllowPrivate lets postbacks reach loopback, private and link-local
	// addresses (POSTBACK_ALLOW_PRIVATE): tests and private deployments.
	AllowPrivate bool
	// Clock is the wall clock; default time.Now.
	Clock func() time.Time
	// NewSecret makes a campaign's signing secret when it has none.
	NewSecret func() string
	// Observe, when set, is told each attempt's outcome as the delivery's
	// state after it: delivered, pending (to be retried) or failed (/metrics).
	Observe func(outcome string)
}

// Sender sends deliveries from the outbox.
type Sender struct {
	outbox    *repository.Outbox
	campaigns *repository.Campaigns
	log       *slog.Logger
	client    *http.Client
	o         Options
	wake      chan struct{}
}

// New returns a sender over the store's outbox and campaigns.
func New(store *repository.Store, log *slog.Logger, o Options) *Sender {
	if o.Ladder == nil {
		o.Ladder = DefaultLadder
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease <= o.Timeout {
		o.Lease = o.Timeout + 5*time.Second
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.DisableAfter == 0 {
		o.DisableAfter = DefaultDisableAfter
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.NewSecret == nil {
		o.NewSecret = NewSecret
	}
	outbox, campaigns := repository.NewSenderRepos(store)
	return &Sender{outbox: outbox, campaigns: campaigns, log: log, o: o, client: newClient(o), wake: make(chan struct{}, 1)}
}

// Notify wakes an idle sender at once instead of at its next poll: the
// projector may call it after a batch that enqueued deliveries. It never
// blocks.
func (s *Sender) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// NewSecret returns a new random signing secret: "pbs_" and 32 random bytes.
func NewSecret() string { return "pbs_" + randomToken() }

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// newClient is the HTTP client of postbacks: no proxy (the environment's
// must not carry them elsewhere), no redirects followed (a 3xx is an
// answer, not a success), and unless AllowPrivate a dialer that refuses
// addresses that are not public, checked at connection time.
func newClient(o Options) *http.Client {
	d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		d.Control = publicOnly
	}
	t := &http.Transport{
		Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
		TLSHandshakeTimeout: o.Timeout, ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns: 64, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second,
	}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Run sends due deliveries until ctx ends, up to Workers at once. Stopping
// cancels the requests under way without recording them: their claims
// expire after Lease and another sender (or this one, restarted) sends them
// again, with the same Idempotency-Key, exactly as after a crash.
func (s *Sender) Run(ctx context.Context) {
	slots := make(chan struct{}, s.o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e, token, ok, err := s.claim(ctx)
		if err != nil || !ok {
			<-slots
			if err != nil && ctx.Err() == nil {
				s.log.Warn("postback claim failed", "err", err.Error())
			}
			if !s.sleep(ctx, s.o.Poll) {
				return
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := s.deliver(ctx, e, token); err != nil && ctx.Err() == nil {
				s.log.Warn("postback delivery failed to record", "key", e.Key, "err", err.Error())
			}
		}()
	}
}

// sleep waits d, or until Notify; false when ctx ends.
func (s *Sender) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.wake:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Sender) claim(ctx context.Context) (domain.OutboxEntry, string, bool, error) {
	token := randomToken()
	e, ok, err := s.outbox.Claim(ctx, s.o.Clock(), s.o.Lease, token)
	return e, token, ok, err
}

// deliver makes one attempt at a claimed delivery and records it.
func (s *Sender) deliver(ctx context.Context, e domain.OutboxEntry, token string) error {
	camp, err := s.campaigns.ByID(ctx, e.CampaignID)
	switch {
	case domain.ErrorCode(err) == domain.ENOTFOUND:
		return s.park(ctx, e, token, domain.DeliverySkipped)
	case err != nil:
		return err
	case e.Event == domain.DeliveryAlert:
		return s.deliverAlert(ctx, camp, e, token)
	case !camp.Postback.Enabled():
		return s.hold(ctx, e, token)
	case camp.PostbackTemplate(e.GoalID) == "" || !camp.Postback.Sends(e.Event):
		return s.park(ctx, e, token, domain.DeliverySkipped)
	}
	if camp.Postback.Secret == "" {
		if camp, err = s.campaigns.EnsurePostbackSecret(ctx, camp.ID, s.o.NewSecret()); err != nil {
			return err
		}
	}
	out, ok, err := s.attempt(ctx, camp, e, token)
	if err != nil || !ok {
		return err
	}
	switch out.State {
	case domain.DeliveryDelivered:
		return s.campaigns.PostbackDelivered(ctx, camp.ID)
	case domain.DeliveryFailed:
		reason := fmt.Sprintf("%d consecutive deliveries failed after every retry; the last: %s", s.o.DisableAfter, out.Attempt.Error)
		disabled, err := s.campaigns.PostbackFailed(ctx, camp.ID, int64(s.o.DisableAfter), reason, out.Now)
		if disabled {
			s.log.Warn("postbacks disabled", "campaign", camp.ID, "failures", s.o.DisableAfter)
		}
		return err
	}
	return nil
}

// attempt sends a claimed delivery once and records the attempt, the
// delivery's next state by the ladder; ok is false when nothing was
// recorded (the sender is stopping, or the claim expired and another
// sender took it over).
func (s *Sender) attempt(ctx context.Context, camp domain.Campaign, e domain.OutboxEntry, token string) (repository.Outcome, bool, error) {
	a := s.send(ctx, camp, e)
	if ctx.Err() != nil {
		return repository.Outcome{}, false, nil // stopping: the claim expires and the delivery is sent again
	}
	a.N = e.Attempts
	now := s.o.Clock()
	out := repository.Outcome{State: domain.DeliveryDelivered, NextAt: now, Attempt: &a, Now: now}
	if a.Error != "" {
		if step := int(e.Retries) - 1; step < len(s.o.Ladder) {
			out.State, out.NextAt = domain.DeliveryPendingState, now.Add(s.o.Ladder[step])
		} else {
			out.State = domain.DeliveryFailed
		}
	}
	ok, err := s.outbox.Settle(ctx, e.Key, token, out)
	if err != nil || !ok {
		return out, false, err // !ok: the claim expired and another sender took it over
	}
	if s.o.Observe != nil {
		s.o.Observe(strings.ToLower(string(out.State)))
	}
	return out, true, nil
}

// deliverAlert makes one attempt at an alert's webhook: a POST of the
// alert to the campaign's alertWebhookUrl, signed with the campaign's
// postback secret, retried on the same ladder. It is the brand's own
// endpoint, not a partner's: it is sent whether or not the campaign's
// postbacks are disabled, and its failures do not count towards
// disabling them. Without an alertWebhookUrl it is skipped.
func (s *Sender) deliverAlert(ctx context.Context, camp domain.Campaign, e domain.OutboxEntry, token string) error {
	if camp.AlertWebhookURL == "" {
		return s.park(ctx, e, token, domain.DeliverySkipped)
	}
	if camp.Postback.Secret == "" {
		var err error
		if camp, err = s.campaigns.EnsurePostbackSecret(ctx, camp.ID, s.o.NewSecret()); err != nil {
			return err
		}
	}
	_, _, err := s.attempt(ctx, camp, e, token)
	return err
}

// hold parks a delivery of a campaign whose postbacks are disabled. If they
// were enabled meanwhile, enabling may have requeued the held ones before
// this one was held: it is requeued here, so none stays behind.
func (s *Sender) hold(ctx context.Context, e domain.OutboxEntry, token string) error {
	if err := s.park(ctx, e, token, domain.DeliveryHeld); err != nil {
		return err
	}
	camp, err := s.campaigns.ByID(ctx, e.CampaignID)
	if err != nil || !camp.Postback.Enabled() {
		return err
	}
	_, err = s.outbox.Requeue(ctx, camp.ID, domain.DeliveryHeld, s.o.Clock())
	return err
}

func (s *Sender) park(ctx context.Context, e domain.OutboxEntry, token string, state domain.DeliveryState) error {
	now := s.o.Clock()
	_, err := s.outbox.Settle(ctx, e.Key, token, repository.Outcome{State: state, NextAt: now, Now: now})
	return err
}

// send makes the request and says how it went.
func (s *Sender) send(ctx context.Context, camp domain.Campaign, e domain.OutboxEntry) domain.Attempt {
	start := s.o.Clock()
	a := domain.Attempt{At: start}
	target := domain.ExpandPostback(camp.PostbackTemplate(e.GoalID), e.Values)
	if e.Event == domain.DeliveryAlert {
		target = camp.AlertWebhookURL
	}
	u, err := url.Parse(target)
	if err != nil {
		a.Error = "the expanded URL is not valid"
		return a
	}
	var body, payload []byte
	method := http.MethodGet
	switch {
	case e.Event == domain.DeliveryAlert:
		method = http.MethodPost
		body, _ = json.Marshal(domain.AlertBody(e.Values))
		payload = body
	case camp.Postback.Method == domain.PostbackPOST:
		method = http.MethodPost
		fields := make(map[string]string, len(e.Values)+2)
		for _, m := range domain.PostbackMacros {
			fields[m] = e.Values[m]
		}
		fields["event"], fields["url"] = e.Event, target
		body, _ = json.Marshal(fields)
		payload = body
	default:
		payload = []byte(u.RawQuery)
	}
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, target, bytesReader(body))
	if err != nil {
		a.Error = "the expanded URL is not valid"
		return a
	}
	ts := start.Unix()
	req.Header.Set("User-Agent", "Tally-Postback/1")
	if e.Event == domain.DeliveryAlert {
		req.Header.Set("User-Agent", "Tally-Alert/1")
	}
	req.Header.Set(HeaderIdempotencyKey, e.Key)
	req.Header.Set(HeaderEvent, e.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(camp.Postback.Secret, ts, payload))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, domain.MaxResponseBytes))
		a.StatusCode, a.Response = resp.StatusCode, strings.ToValidUTF8(string(b), "\uFFFD")
		switch {
		case rerr != nil && rctx.Err() != nil:
			a.Error = "timeout"
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			a.Error = "status " + strconv.Itoa(resp.StatusCode)
		}
	} else {
		a.Error = describe(err, rctx)
	}
	a.Latency = s.o.Clock().Sub(start)
	return a
}

func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return strings.NewReader(string(b))
}

// describe says in Tally's own words why a request got no answer; the
// transport's error text (addresses, internals) is never stored.
func describe(err error, rctx context.Context) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, errNotPublic):
		return "refused: the target's address is not public"
	case errors.Is(rctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &dnsErr):
		return "the target's host name did not resolve"
	case strings.Contains(err.Error(), "tls"), strings.Contains(err.Error(), "x509"):
		return "TLS handshake failed"
	}
	return "connection failed"
}
