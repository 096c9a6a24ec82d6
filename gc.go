package main

import (
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// serverGOGC is the server's garbage-collector target where GOGC is unset:
// the heap may grow to 5× what is live before a cycle (Go's default, 100,
// lets it double). Collection work per allocated byte falls by the same
// factor; a GraphQL request allocates hundreds of small objects, and at
// Go's default the collector was a fifth of `me`'s CPU. The memory limit
// below bounds what the headroom can cost. See docs/decisions.md, "The
// garbage collector".
const serverGOGC = 400

// runtimeVariables are the Go runtime's variables Tally gives defaults to,
// for --help.
var runtimeVariables = []struct{ Name, Meaning string }{
	{"GOGC", "garbage-collector target, in percent of the live heap (Tally's server default 400; Go's is 100)"},
	{"GOMEMLIMIT", "soft memory limit, e.g. 2GiB (default: 90% of the container's memory limit, else of the machine's memory)"},
}

// tuneGC sets the server's collector defaults where the operator set none:
// GOGC 400, and a soft memory limit of 90% of the cgroup's memory limit, or of
// the machine's memory without one (automemlimit). Near the limit the
// collector runs as often as it must, whatever GOGC says, so the headroom
// never costs the process its container. An operator's GOGC or GOMEMLIMIT
// is kept as it is. It returns the GOGC in force and the memory limit, for
// the start-up log line.
func tuneGC(getenv func(string) string, log *slog.Logger) (gogc string, memoryLimit int64) {
	gogc = getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(serverGOGC)
		gogc = strconv.Itoa(serverGOGC)
	}
	memoryLimit, err := memlimit.Set(memlimit.WithRatio(0.9),
		memlimit.WithProvider(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)))
	if err != nil {
		log.Warn("no memory limit could be set; GOGC alone bounds the heap", "err", err.Error())
	}
	return gogc, memoryLimit
}
