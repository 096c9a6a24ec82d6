package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	_ "time/tzdata" // blackout periods and validation need zone data even where the OS has none

	"tally/domain"
	"tally/foundation/tracing"
	"tally/projection"
	"tally/repository"
	"tally/server/config"
)

// Main is the program tally: Run with the process's arguments, environment
// and standard output, until SIGINT or SIGTERM; an error is printed on
// standard error and the process exits 1.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tally:", err)
		stop()
		os.Exit(1)
	}
}

// Run dispatches args to a command (the default is serve) with the
// environment getenv; the commands write to stdout (serve its JSON log).
// It returns when the command is done, for serve when ctx ends and the
// server has drained.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	// A command's own flags are taken out of args before the settings'
	// flags are parsed: config.Load refuses any flag it does not know.
	var migrateTo, migrateToDB string
	var repair bool
	switch cmd {
	case "migrate":
		migrateTo, args = takeFlag(args, "to")
		migrateToDB, args = takeFlag(args, "to-database")
	case "verify":
		var err error
		if repair, args, err = takeBool(args, "repair"); err != nil {
			return err
		}
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
		if err := cfg.RequireSecret(); err != nil {
			return err
		}
		return serve(ctx, cfg, getenv, log)
	case "verify":
		if len(cfg.Args) > 0 {
			return fmt.Errorf("unexpected argument %q (usage: tally verify [-repair])", cfg.Args[0])
		}
		return verify(ctx, cfg, log, stdout, repair)
	case "make-admin":
		if len(cfg.Args) != 1 {
			return errors.New("usage: tally make-admin EMAIL")
		}
		return makeAdmin(ctx, cfg, cfg.Args[0], stdout)
	case "migrate":
		if migrateTo == "" || len(cfg.Args) > 0 {
			return errors.New("usage: tally migrate --to MONGODB_URI [--to-database NAME] (copies the embedded store in DATA_DIR to that deployment)")
		}
		return migrate(ctx, cfg, migrateTo, migrateToDB, stdout)
	default:
		return fmt.Errorf("unknown command %q (commands: %s; tally --help lists them)", cmd, strings.Join(commandNames(), ", "))
	}
}

// commands are the server's commands, for --help.
var commands = []struct{ name, usage string }{
	{"serve", "serve the API (the default): GraphQL at /query, GraphiQL at /, /healthz, /readyz, /metrics"},
	{"make-admin EMAIL", "give an existing account the ADMIN role"},
	{"verify [-repair]", "check every counter and amount against the stored events; -repair rewrites what drifted"},
	{"migrate --to URI", "copy the embedded store in DATA_DIR to the MongoDB deployment at URI, into the database\n" +
		"                     --to-database NAME, else the one URI's path names (mongodb://host/NAME), else MONGODB_DATABASE"},
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
	fmt.Fprint(w, "\nSee docs/configuration.md for each setting's details.\n")
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

// takeBool removes -name, --name, -name=BOOL or --name=BOOL from args and
// reports whether it was given (and true), and the rest.
func takeBool(args []string, name string) (bool, []string, error) {
	var value bool
	rest := make([]string, 0, len(args))
	for _, arg := range args {
		a := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		switch {
		case len(arg) == len(a): // no dash: an operand
			rest = append(rest, arg)
		case a == name:
			value = true
		case strings.HasPrefix(a, name+"="):
			v, err := strconv.ParseBool(strings.TrimPrefix(a, name+"="))
			if err != nil {
				return false, nil, fmt.Errorf("-%s: %q is not true or false", name, strings.TrimPrefix(a, name+"="))
			}
			value = v
		default:
			rest = append(rest, arg)
		}
	}
	return value, rest, nil
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

// migrate copies the embedded store in DATA_DIR (database MONGODB_DATABASE)
// to the MongoDB deployment at to, into the database toDB, else the one to's
// path names, else MONGODB_DATABASE, then says how to start on it. The
// server must be stopped: the data directory's lock refuses a second
// process.
func migrate(ctx context.Context, cfg config.Config, to, toDB string, stdout io.Writer) error {
	target := cmp.Or(toDB, repository.URIDatabase(to), cfg.Database)
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
	dst, err := repository.Open(ctx, repository.Options{URI: to, Database: target})
	if err != nil {
		return err
	}
	defer dst.Close(context.Background())
	fmt.Fprintf(stdout, "migrate: %s (database %q) -> database %q on the deployment given\n", file, cfg.Database, target)
	if _, err := repository.Migrate(ctx, src, dst, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrate: done. Start the server with MONGODB_URI set to that deployment, MONGODB_DATABASE=%s "+
		"and JWT_SECRET set to the contents of %s (so that issued tokens stay valid).\n",
		target, filepath.Join(cfg.DataDir, "jwt_secret"))
	return nil
}
