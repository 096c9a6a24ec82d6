package httpapi

import (
	"context"
	"io"
	"net/http"
)

// PayoutExporter writes a payout run's payment file (payouts.Service).
type PayoutExporter interface {
	WriteCSV(ctx context.Context, key string, w io.Writer) error
}

// payoutCSV serves GET /payout-runs/{key}/payouts.csv: the run's PayPal
// Payouts payment file, streamed as it is read, for an admin's session
// token (Authorization: Bearer). Before the first row, an error is a JSON
// body with its code and the matching status (401, 403, 404, 409); after
// it, the response is cut short (a truncated file is never a whole one:
// its client sees the connection end without the final chunk).
func payoutCSV(p PayoutExporter, d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		cw := &csvWriter{w: w, name: r.PathValue("key")}
		if err := p.WriteCSV(r.Context(), r.PathValue("key"), cw); err != nil {
			status, code, msg := d.httpError(r.Context(), "payout file failed", err)
			if !cw.started {
				writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
				return
			}
			panic(http.ErrAbortHandler)
		}
		if !cw.started {
			cw.start() // a run with no payouts: an empty file
		}
	}
}

// csvWriter sends the file's headers with its first bytes.
type csvWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (c *csvWriter) start() {
	c.started = true
	c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.w.Header().Set("Content-Disposition", `attachment; filename="payouts.csv"`)
	c.w.WriteHeader(http.StatusOK)
}

func (c *csvWriter) Write(b []byte) (int, error) {
	if !c.started {
		c.start()
	}
	n, err := c.w.Write(b)
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
	return n, err
}
