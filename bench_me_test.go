package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"tally/domain"
	"tally/graph"
	"tally/repository"
	"tally/repository/repotest"
	"tally/resolvers"
)

// The `me` benchmark of docs/benchmarks.md: Tally's `me` against a bare
// gqlgen server with a static resolver for the same query, interleaved in
// one run, with the same load generator and the same query bytes, and
// 10,000 users stored. It runs only when asked:
//
//	TALLY_BENCH_ME=1 go test -run TestBenchMe -v -count=1 .
//
// TALLY_BENCH_ME_ROUNDS (6), TALLY_BENCH_ME_SECONDS (2 per round and server),
// TALLY_BENCH_ME_WORKERS (8) and TALLY_BENCH_ME_USERS (10000) change its
// shape; TALLY_BENCH_ME_CPUPROFILE=file writes CPU profiles of each Go
// server's first seconds (file.tally, file.bare).

// benchMeQuery is the README's profile query, the bytes both servers get.
var benchMeQuery = []byte(gqlBody(meQuery))

// staticRoot is the bare server's resolvers: the generated executor of the
// same schema, `me` a fixed user, User's @private fields answered without a
// check.
type staticRoot struct {
	*resolvers.Resolver
	user *domain.User
}

func (s staticRoot) Query() graph.QueryResolver { return staticQuery{s.Resolver.Query(), s.user} }

type staticQuery struct {
	graph.QueryResolver
	user *domain.User
}

func (q staticQuery) Me(context.Context) (*domain.User, error) { return q.user, nil }

// bareGqlgen is gqlgen's handler with its POST transport and the query
// cache its default server has (1,000 parsed documents), nothing else.
func bareGqlgen(u *domain.User) http.Handler {
	noCheck := func(ctx context.Context, _ any, next graphql.Resolver) (any, error) { return next(ctx) }
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: staticRoot{&resolvers.Resolver{}, u},
		Directives: graph.DirectiveRoot{Private: noCheck}}))
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	return srv
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// load sends POSTs of body to url from workers goroutines for d and returns
// the requests per second answered 200 with the want bytes.
func load(t *testing.T, client *http.Client, url, token string, body []byte, want []byte, workers int, d time.Duration) float64 {
	t.Helper()
	var n, bad atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 4096)
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				buf = buf[:0]
				b := bytes.NewBuffer(buf)
				_, _ = io.Copy(b, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(b.Bytes(), want) {
					bad.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%s: %d bad answers", url, bad.Load())
	}
	return float64(n.Load()) / d.Seconds()
}

// TestBenchMe drives two server processes (this test binary run again as
// TestBenchMeServer): Tally on the embedded store with the users stored, and
// the bare gqlgen server. It alternates rounds between them and reads each
// process's CPU time from /proc before and after its round, so the figures
// are the servers' own: requests per second and server CPU per request.
func TestBenchMe(t *testing.T) {
	if os.Getenv("TALLY_BENCH_ME") == "" {
		t.Skip("the me benchmark runs with TALLY_BENCH_ME=1 (see docs/benchmarks.md)")
	}
	rounds := envInt("TALLY_BENCH_ME_ROUNDS", 6)
	secs := envInt("TALLY_BENCH_ME_SECONDS", 2)
	workers := envInt("TALLY_BENCH_ME_WORKERS", 8)
	users := envInt("TALLY_BENCH_ME_USERS", 10000)

	tallySrv := startBenchServer(t, "tally", users, "")
	bareSrv := startBenchServer(t, "bare", users, tallySrv.email)
	apolloSrv := startApolloServer(t, tallySrv.email) // nil without node and test/graphql-http's packages
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 2, MaxConnsPerHost: workers * 2}}
	want := []byte(tallySrv.email)
	warm := 500 * time.Millisecond
	load(t, client, tallySrv.url, tallySrv.token, benchMeQuery, want, workers, warm)
	load(t, client, bareSrv.url, tallySrv.token, benchMeQuery, want, workers, warm)
	if apolloSrv != nil {
		load(t, client, apolloSrv.url, tallySrv.token, benchMeQuery, want, workers, warm)
	}

	type result struct{ rps, cpuPerReq float64 }
	run := func(s *benchServer) result {
		c0 := s.cpu(t)
		rps := load(t, client, s.url, tallySrv.token, benchMeQuery, want, workers, time.Duration(secs)*time.Second)
		c1 := s.cpu(t)
		return result{rps, (c1 - c0).Seconds() / (rps * float64(secs))}
	}
	var tally, bare, apollo []result
	for r := range rounds {
		tr, br := run(tallySrv), run(bareSrv)
		tally, bare = append(tally, tr), append(bare, br)
		t.Logf("round %d: tally %.0f req/s %.0f µs CPU/req; bare gqlgen %.0f req/s %.0f µs CPU/req; ratio %.2f",
			r+1, tr.rps, tr.cpuPerReq*1e6, br.rps, br.cpuPerReq*1e6, tr.rps/br.rps)
		if apolloSrv != nil {
			ar := run(apolloSrv)
			apollo = append(apollo, ar)
			t.Logf("round %d: Apollo Server 5 %.0f req/s %.0f µs CPU/req; tally / Apollo %.2f", r+1, ar.rps, ar.cpuPerReq*1e6, tr.rps/ar.rps)
		}
	}
	med := func(v []result, f func(result) float64) float64 {
		s := make([]float64, len(v))
		for i := range v {
			s[i] = f(v[i])
		}
		sort.Float64s(s)
		return s[len(s)/2]
	}
	rps := func(r result) float64 { return r.rps }
	cpu := func(r result) float64 { return r.cpuPerReq * 1e6 }
	t.Logf("median of %d rounds of %ds, %d workers, %d users: tally %.0f req/s, %.0f µs CPU/req; bare gqlgen %.0f req/s, %.0f µs CPU/req; throughput ratio %.2f, CPU ratio (bare/tally) %.2f",
		rounds, secs, workers, users, med(tally, rps), med(tally, cpu), med(bare, rps), med(bare, cpu),
		med(tally, rps)/med(bare, rps), med(bare, cpu)/med(tally, cpu))
	if apolloSrv != nil {
		t.Logf("median: Apollo Server 5 (static resolver) %.0f req/s, %.0f µs CPU/req; tally / Apollo throughput %.2f",
			med(apollo, rps), med(apollo, cpu), med(tally, rps)/med(apollo, rps))
	}
}

// startApolloServer starts test/graphql-http/apollo-me.mjs, Apollo Server 5
// with a static `me`; nil (with a log line) when node or the packages are
// missing.
func startApolloServer(t *testing.T, email string) *benchServer {
	t.Helper()
	script := filepath.Join("test", "graphql-http", "apollo-me.mjs")
	if _, err := exec.LookPath("node"); err != nil {
		t.Log("no node: the Apollo Server comparison is left out")
		return nil
	}
	if _, err := os.Stat(filepath.Join("test", "graphql-http", "node_modules", "@apollo", "server")); err != nil {
		t.Log("test/graphql-http has no node_modules (npm ci there): the Apollo Server comparison is left out")
		return nil
	}
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), "TALLY_BENCH_ME_EMAIL="+email, "NODE_ENV=production")
	return startServerCmd(t, cmd, "Apollo Server")
}

type benchServer struct {
	cmd               *exec.Cmd
	url, token, email string
}

// cpu is the server process's user and system CPU time so far.
func (s *benchServer) cpu(t *testing.T) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read CPU time: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func startBenchServer(t *testing.T, kind string, users int, email string) *benchServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchMeServer$", "-test.v", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "TALLY_BENCH_ME_SERVE="+kind, "TALLY_BENCH_ME_USERS="+strconv.Itoa(users), "TALLY_BENCH_ME_EMAIL="+email)
	return startServerCmd(t, cmd, kind)
}

// startServerCmd starts a bench server process and reads its
// "BENCH-SERVER url token email" line.
func startServerCmd(t *testing.T, cmd *exec.Cmd, kind string) *benchServer {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &benchServer{cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "BENCH-SERVER "); ok {
			f := strings.Fields(rest)
			s.url, s.token, s.email = f[0], f[1], f[2]
			break
		}
	}
	if s.url == "" {
		t.Fatalf("%s server did not start", kind)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return s
}

// TestBenchMeServer is one server of TestBenchMe, in a process of its own:
// it prints "BENCH-SERVER url token email" and serves until killed.
func TestBenchMeServer(t *testing.T) {
	kind := os.Getenv("TALLY_BENCH_ME_SERVE")
	if kind == "" {
		t.Skip("run by TestBenchMe")
	}
	users := envInt("TALLY_BENCH_ME_USERS", 10000)
	// Both Go servers collect garbage as `tally` does (GOGC 400 unless GOGC
	// is set, the memory limit), so the ratio is Tally's work, not GC settings.
	tuneGC(os.Getenv, benchLogger())
	if kind == "bare" {
		// The user Tally answers with, stored and read back the same way;
		// the bare server reads nothing per request.
		store := repotest.MustOpen(t)
		repo := repository.NewUsers(store)
		created, err := repo.Create(context.Background(), repository.NewUser{Email: os.Getenv("TALLY_BENCH_ME_EMAIL"),
			PasswordHash: "x", DisplayName: "User STREAMER", Role: domain.RoleStreamer, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		me, err := repo.ByID(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("BENCH-SERVER http://%s/query - %s\n", ln.Addr(), me.Email)
		_ = http.Serve(ln, bareGqlgen(&me))
		return
	}
	a := mustStartApp(t, withLogger(benchLogger()))
	u := a.mustSignUp("STREAMER")
	repo := repository.NewUsers(a.store)
	start := time.Now()
	for i := range users - 1 {
		if _, err := repo.Create(context.Background(), repository.NewUser{Email: fmt.Sprintf("bench-%d@example.com", i),
			PasswordHash: "x", DisplayName: "Bench", Role: domain.RoleStreamer, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "tally bench server: stored %d users in %s\n", users, time.Since(start).Round(time.Millisecond))
	if f := os.Getenv("TALLY_BENCH_ME_CPUPROFILE"); f != "" {
		pf, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.StartCPUProfile(pf)
		go func() { time.Sleep(4 * time.Second); pprof.StopCPUProfile(); pf.Close() }()
	}
	fmt.Printf("BENCH-SERVER %s/query %s %s\n", a.srv.URL, u.Token, u.Email)
	select {} // serves until killed
}

// benchLogger writes the server's JSON log lines to nowhere: the line is
// still made, as in production.
func benchLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// BenchmarkMeHandler is `me` through each handler in process, without the
// network: allocations and CPU per request of Tally's handler (its
// middleware, transport, limits and the user read) and of the bare gqlgen
// handler. 10,000 users are stored for Tally.
//
//	go test -run '^$' -bench BenchmarkMeHandler -benchmem .
func BenchmarkMeHandler(b *testing.B) {
	a := mustStartApp(b, withLogger(benchLogger()))
	u := a.mustSignUp("STREAMER")
	repo := repository.NewUsers(a.store)
	for i := range envInt("TALLY_BENCH_ME_USERS", 10000) - 1 {
		if _, err := repo.Create(context.Background(), repository.NewUser{Email: fmt.Sprintf("bench-%d@example.com", i),
			PasswordHash: "x", DisplayName: "Bench", Role: domain.RoleStreamer, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	me, err := repo.ByID(context.Background(), u.ID)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, "/query", bytes.NewReader(benchMeQuery))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+u.Token)
			req.RemoteAddr = "127.0.0.1:1234"
			rec := &discardWriter{h: http.Header{}}
			h.ServeHTTP(rec, req)
			if rec.status != 0 && rec.status != 200 {
				b.Fatalf("status %d", rec.status)
			}
		}
	}
	b.Run("tally", func(b *testing.B) { run(b, a.handler) })
	b.Run("bare-gqlgen", func(b *testing.B) { run(b, bareGqlgen(&me)) })
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }
