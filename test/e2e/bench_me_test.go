package e2e

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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/vektah/gqlparser/v2/ast"

	"tally/domain"
	"tally/graph"
	"tally/repository"
	"tally/repository/repotest"
	"tally/resolvers"
	"tally/server"
)

// The `me` benchmark of docs/benchmarks.md: Tally's `me` against a bare
// gqlgen server with a static resolver for the same query (and Apollo
// Server 5, when node and test/graphql-http's packages are there),
// interleaved in one run, with the same load generator (wrk when installed,
// else Go's HTTP client) and the same query bytes, and 10,000 users stored
// in each Go server. It runs only when asked:
//
//	TALLY_BENCH_ME=1 go test -run TestBenchMe -v -count=1 .
//
// TALLY_BENCH_ME_ROUNDS (6), TALLY_BENCH_ME_SECONDS (2 per round and server),
// TALLY_BENCH_ME_WORKERS (8: connections, or the Go generator's goroutines),
// TALLY_BENCH_ME_WRK_THREADS (1) and TALLY_BENCH_ME_USERS (10000) change its
// shape; TALLY_BENCH_ME_GENERATOR=go uses Go's client even with wrk there;
// TALLY_BENCH_ME_CPUPROFILE=file writes CPU profiles of each Go server's
// first seconds (file.tally, file.bare).

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

// bareGqlgen is the server `gqlgen init` writes (gqlgen's
// plugin/servergen/server.gotpl, v0.17.98), over the same generated
// executor with the static resolver: the Options, GET and POST transports,
// the 1,000-document query cache, introspection, automatic persisted
// queries (100), and /query on a mux beside the playground page.
func bareGqlgen(u *domain.User) http.Handler {
	noCheck := func(ctx context.Context, _ any, next graphql.Resolver) (any, error) { return next(ctx) }
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: staticRoot{&resolvers.Resolver{}, u},
		Directives: graph.DirectiveRoot{Private: noCheck}}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	mux := http.NewServeMux()
	mux.Handle("/", playground.Handler("GraphQL playground", "/query"))
	mux.Handle("/query", srv)
	return mux
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

// wrkScript is the Lua script wrk runs: the same POST as load, every answer
// checked (200 and the want bytes), the counts of all threads summed in one
// line TALLY-WRK ok=N bad=N errors=N us=N.
const wrkScript = `wrk.method = "POST"
wrk.body = [==[%s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
local want = [==[%s]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and body:find(want, 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("TALLY-WRK ok=%%d bad=%%d errors=%%d us=%%d\n", o, b,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration))
end
`

// wrkLoad is load through wrk (Debian's package wrk, a C load generator on
// epoll), which costs the shared cores far less per request than Go's HTTP
// client, so the servers get more of the machine: conns keep-alive
// connections on threads threads for d, rounded to whole seconds.
func wrkLoad(t *testing.T, script, url string, threads, conns int, d time.Duration) float64 {
	t.Helper()
	secs := max(1, int(d.Round(time.Second)/time.Second))
	out, err := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
		"-s", script, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	var ok, bad, errs, us int64
	for line := range strings.Lines(string(out)) {
		if rest, found := strings.CutPrefix(line, "TALLY-WRK "); found {
			if _, err := fmt.Sscanf(rest, "ok=%d bad=%d errors=%d us=%d", &ok, &bad, &errs, &us); err != nil {
				t.Fatalf("wrk summary %q: %v", rest, err)
			}
		}
	}
	if us == 0 || bad > 0 || errs > 0 {
		t.Fatalf("%s: wrk answered %d good, %d bad, %d errors:\n%s", url, ok, bad, errs, out)
	}
	return float64(ok) / (float64(us) / 1e6)
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
	// The generator: wrk when it is installed (TALLY_BENCH_ME_GENERATOR=go
	// keeps Go's), else workers goroutines of Go's HTTP client.
	generate := func(url string, d time.Duration) float64 {
		return load(t, client, url, tallySrv.token, benchMeQuery, want, workers, d)
	}
	generator := fmt.Sprintf("Go's HTTP client, %d workers", workers)
	if _, err := exec.LookPath("wrk"); err == nil && os.Getenv("TALLY_BENCH_ME_GENERATOR") != "go" {
		script := filepath.Join(t.TempDir(), "me.lua")
		lua := fmt.Sprintf(wrkScript, benchMeQuery, tallySrv.token, tallySrv.email)
		if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
			t.Fatal(err)
		}
		threads := envInt("TALLY_BENCH_ME_WRK_THREADS", 1)
		generate = func(url string, d time.Duration) float64 { return wrkLoad(t, script, url, threads, workers, d) }
		generator = fmt.Sprintf("wrk, %d thread(s), %d connections", threads, workers)
	}
	t.Logf("load generator: %s", generator)
	warm := time.Second
	generate(tallySrv.url, warm)
	generate(bareSrv.url, warm)
	if apolloSrv != nil {
		generate(apolloSrv.url, warm)
	}

	type result struct{ rps, cpuPerReq float64 }
	run := func(s *benchServer) result {
		c0 := s.cpu(t)
		rps := generate(s.url, time.Duration(secs)*time.Second)
		c1 := s.cpu(t)
		return result{rps, (c1 - c0).Seconds() / (rps * float64(secs))}
	}
	// Each round measures every server back to back, in the opposite order
	// to the round before, so a slow drift of the shared machine falls on
	// all of them; the per-round ratios are the figures, their median the
	// result.
	var tally, bare, apollo []result
	var vsBare, vsApollo, cpuVsBare, cpuVsApollo []float64
	for r := range rounds {
		servers := []*benchServer{tallySrv, bareSrv, apolloSrv}
		if r%2 == 1 {
			slices.Reverse(servers)
		}
		got := map[*benchServer]result{}
		for _, s := range servers {
			if s != nil {
				got[s] = run(s)
			}
		}
		tr, br := got[tallySrv], got[bareSrv]
		tally, bare, vsBare = append(tally, tr), append(bare, br), append(vsBare, tr.rps/br.rps)
		cpuVsBare = append(cpuVsBare, br.cpuPerReq/tr.cpuPerReq)
		t.Logf("round %d: tally %.0f req/s %.0f µs CPU/req; bare gqlgen %.0f req/s %.0f µs CPU/req; ratio %.2f",
			r+1, tr.rps, tr.cpuPerReq*1e6, br.rps, br.cpuPerReq*1e6, tr.rps/br.rps)
		if apolloSrv != nil {
			ar := got[apolloSrv]
			apollo, vsApollo = append(apollo, ar), append(vsApollo, tr.rps/ar.rps)
			cpuVsApollo = append(cpuVsApollo, ar.cpuPerReq/tr.cpuPerReq)
			t.Logf("round %d: Apollo Server 5 %.0f req/s %.0f µs CPU/req; tally / Apollo %.2f", r+1, ar.rps, ar.cpuPerReq*1e6, tr.rps/ar.rps)
		}
	}
	median := func(v []float64) float64 {
		s := slices.Clone(v)
		sort.Float64s(s)
		if len(s)%2 == 0 {
			return (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return s[len(s)/2]
	}
	med := func(v []result, f func(result) float64) float64 {
		s := make([]float64, len(v))
		for i := range v {
			s[i] = f(v[i])
		}
		return median(s)
	}
	rps := func(r result) float64 { return r.rps }
	cpu := func(r result) float64 { return r.cpuPerReq * 1e6 }
	t.Logf("median of %d rounds of %ds, %s, %d users: tally %.0f req/s, %.0f µs CPU/req; bare gqlgen %.0f req/s, %.0f µs CPU/req; "+
		"medians of the rounds' ratios: tally / bare throughput %.2f, CPU per request bare / tally %.2f",
		rounds, secs, generator, users, med(tally, rps), med(tally, cpu), med(bare, rps), med(bare, cpu),
		median(vsBare), median(cpuVsBare))
	if apolloSrv != nil {
		t.Logf("median: Apollo Server 5 (static resolver) %.0f req/s, %.0f µs CPU/req; medians of the rounds' ratios: tally / Apollo throughput %.2f, CPU per request Apollo / tally %.2f",
			med(apollo, rps), med(apollo, cpu), median(vsApollo), median(cpuVsApollo))
	}
}

// startApolloServer starts test/graphql-http/apollo-me.mjs, Apollo Server 5
// with a static `me`; nil (with a log line) when node or the packages are
// missing.
func startApolloServer(t *testing.T, email string) *benchServer {
	t.Helper()
	script := filepath.Join(repoRoot, "test", "graphql-http", "apollo-me.mjs")
	if _, err := exec.LookPath("node"); err != nil {
		t.Log("no node: the Apollo Server comparison is left out")
		return nil
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "test", "graphql-http", "node_modules", "@apollo", "server")); err != nil {
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
	_, _, _ = server.TuneGC(os.Getenv, benchLogger())
	if kind == "bare" {
		// The user Tally answers with, stored and read back the same way,
		// among as many users as Tally's store holds (the issue's "both
		// with 10,000 users stored": the same live heap for the collector);
		// the bare server reads nothing per request.
		store := repotest.MustOpen(t)
		repo := repository.NewUsers(store)
		created, err := repo.Create(context.Background(), repository.NewUser{Email: os.Getenv("TALLY_BENCH_ME_EMAIL"),
			PasswordHash: "x", DisplayName: "User STREAMER", Role: domain.RoleStreamer, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		storeBenchUsers(t, repo, users-1)
		me, err := repo.ByID(context.Background(), created.ID)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		profile(t, kind)
		fmt.Printf("BENCH-SERVER http://%s/query - %s\n", ln.Addr(), me.Email)
		_ = http.Serve(ln, bareGqlgen(&me))
		return
	}
	a := mustStartApp(t, withLogger(benchLogger()))
	u := a.mustSignUp("STREAMER")
	storeBenchUsers(t, repository.NewUsers(a.store), users-1)
	// Served as `tally` serves (newHTTPServer: its timeouts, which set
	// deadlines on every request), not by the tests' httptest server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	profile(t, kind)
	fmt.Printf("BENCH-SERVER http://%s/query %s %s\n", ln.Addr(), u.Token, u.Email)
	_ = server.NewHTTPServer(a.handler).Serve(ln)
}

// storeBenchUsers stores n more users, the crowd `me` is read from.
func storeBenchUsers(t testing.TB, repo *repository.Users, n int) {
	start := time.Now()
	for i := range n {
		if _, err := repo.Create(context.Background(), repository.NewUser{Email: fmt.Sprintf("bench-%d@example.com", i),
			PasswordHash: "x", DisplayName: "Bench", Role: domain.RoleStreamer, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "bench server: stored %d more users in %s\n", n, time.Since(start).Round(time.Millisecond))
}

// profile writes a CPU profile of the server's first 4 s of serving to
// $TALLY_BENCH_ME_CPUPROFILE.kind, when that is set: the warm-up and most of
// the first round.
func profile(t *testing.T, kind string) {
	f := os.Getenv("TALLY_BENCH_ME_CPUPROFILE")
	if f == "" {
		return
	}
	pf, err := os.Create(f + "." + kind)
	if err != nil {
		t.Fatal(err)
	}
	_ = pprof.StartCPUProfile(pf)
	go func() { time.Sleep(4 * time.Second); pprof.StopCPUProfile(); pf.Close() }()
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
	storeBenchUsers(b, repo, envInt("TALLY_BENCH_ME_USERS", 10000)-1)
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
