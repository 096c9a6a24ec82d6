package server

import (
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: the server's collector defaults apply where the operator set
// none, and an operator's GOGC is kept.
func TestTuneGC(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	prevPercent, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevPercent); debug.SetMemoryLimit(prevLimit) })

	gogc, limit, restore := TuneGC(func(string) string { return "" }, log)
	if got := debug.SetGCPercent(100); gogc != "400" || got != serverGOGC {
		t.Errorf("GOGC unset: reported %q, in force %d; want 400", gogc, got)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if limit <= 0 || limit == math.MaxInt64 || debug.SetMemoryLimit(-1) != limit {
			t.Errorf("GOMEMLIMIT unset: memory limit %d (in force %d), want 90%% of the container's or machine's memory",
				limit, debug.SetMemoryLimit(-1))
		}
	}

	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("restore left GOGC at %d, want the 100 found", got)
	}

	gogc, _, _ = TuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}, log)
	if got := debug.SetGCPercent(100); gogc != "150" || got != 100 {
		t.Errorf("GOGC=150: reported %q, in force %d; want the runtime's own value kept", gogc, got)
	}
}
