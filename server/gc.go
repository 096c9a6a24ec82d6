package server

import (
	"log/slog"
	"math"
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
	{"AUTOMEMLIMIT", "the share of memory that default takes, in (0,1] (0.9), or off for no default limit"},
}

// TuneGC sets the server's collector defaults where the operator set none:
// GOGC 400, and a soft memory limit of 90% of the cgroup's memory limit, or of
// the machine's memory without one (automemlimit; AUTOMEMLIMIT=off leaves it
// out, AUTOMEMLIMIT=0.5 changes the share). Near the limit the collector runs
// as often as it must, whatever GOGC says, so the headroom never costs the
// process its container; on a machine of its own the limit only matters
// when the heap nears the machine's memory, where it can only help. An
// operator's GOGC or GOMEMLIMIT is kept as it is. It returns the GOGC in
// force and the memory limit (0 for none), for the start-up log line, and a
// function that puts back the settings found (for tests that serve).
func TuneGC(getenv func(string) string, log *slog.Logger) (gogc string, memoryLimit int64, restore func()) {
	prevPercent, prevLimit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(prevPercent) // SetGCPercent(-1) switched it off to read it
	restore = func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) }
	switch v := getenv("GOGC"); {
	case v == "":
		debug.SetGCPercent(serverGOGC)
		gogc = strconv.Itoa(serverGOGC)
	case v == "off":
		gogc = "off"
	default:
		if _, err := strconv.Atoi(v); err != nil {
			gogc = "100 (GOGC=" + strconv.Quote(v) + " is not a number: Go's default)"
		} else {
			gogc = v
		}
	}
	memoryLimit, err := memlimit.Set(memlimit.WithRatio(0.9),
		memlimit.WithProvider(memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)))
	if err != nil {
		log.Warn("no memory limit could be set; GOGC alone bounds the heap", "err", err.Error())
	}
	if memoryLimit == math.MaxInt64 {
		memoryLimit = 0
	}
	return gogc, memoryLimit, restore
}
