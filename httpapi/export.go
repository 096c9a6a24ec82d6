package httpapi

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"time"

	"tally/domain"
	"tally/foundation/ratelimit"
)

// EventExporter authorizes an event export and reads its rows
// (reports.Exports).
type EventExporter interface {
	ExportEvents(ctx context.Context, campaignID string, p domain.ExportParams) (domain.ExportRequest, iter.Seq2[domain.ExportRow, error], error)
}

// exportWriteWindow is how long writing one page of an export may take:
// the server's WriteTimeout bounds a whole response, which a long export
// outlasts, so the export moves its deadline on before each page instead.
// A client that reads nothing for this long is cut off.
const exportWriteWindow = time.Minute

// exportEvents serves GET /campaigns/{campaignId}/events.csv: the
// campaign's clicks and conversions as CSV (RFC 4180, a header row,
// docs/reports.md, "Event export"), streamed a page at a time. Every failure before the
// first byte is an HTTP error in /postback's JSON shape; a failure after it
// is logged and the connection is aborted, so the client sees a truncated
// transfer, never a short file that looks whole.
func exportEvents(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.Exports == nil {
			writeExportError(w, r, d, domain.Errorf(domain.ENOTFOUND, "the event export is not served here"))
			return
		}
		if r.Header.Get("Authorization") == "" && r.Header.Get("X-Api-Key") != "" {
			writeExportError(w, r, d, domain.Errorf(domain.EUNAUTHENTICATED,
				"the event export takes a user's session token (Authorization: Bearer <token>); API keys only record conversions"))
			return
		}
		q := r.URL.Query()
		campaignID := r.PathValue("campaignId")
		req, rows, err := d.Exports.ExportEvents(r.Context(), campaignID, domain.ExportParams{Kind: q.Get("kind"),
			From: q.Get("from"), To: q.Get("to"), TimeZone: q.Get("timeZone"), ParticipationID: q.Get("participationId")})
		if err != nil {
			writeExportError(w, r, d, err)
			return
		}
		// The first page is read before anything is sent, so that a store
		// that fails at once is an HTTP error too.
		next, stop := iter.Pull2(rows)
		defer stop()
		row, err, more := next()
		if err != nil {
			writeExportError(w, r, d, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, exportFilename(req)))
		h.Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
		cw := csv.NewWriter(w)
		cw.UseCRLF = true
		_ = cw.Write(domain.ExportColumns)
		n := 0
		for ; more; row, err, more = next() {
			if err != nil {
				cw.Flush()
				d.abortExport(r, req, n, err)
			}
			if err := cw.Write(row.Cells(d.Resolver.Currency)); err != nil {
				d.abortExport(r, req, n, err)
			}
			n++
			// csv.Writer buffers 4 KiB: hand what was written to the
			// client as it comes, and give the next rows their own window.
			if n%exportFlushRows == 0 {
				cw.Flush()
				_ = rc.Flush()
				_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			d.abortExport(r, req, n, err)
		}
		_ = rc.Flush()
		d.Log.InfoContext(r.Context(), "events exported", "request_id", RequestID(r.Context()), "campaign", req.CampaignID, "rows", n)
	}
}

// exportFlushRows is how often the export flushes what it wrote.
const exportFlushRows = 256

// abortExport ends an export that failed after its first byte: logged with
// what was written, then the connection is aborted (http.ErrAbortHandler),
// so that the client sees the transfer cut off — curl exits with an error,
// a Go client reads io.ErrUnexpectedEOF — rather than a file that ends as
// if complete. It does not return.
func (d Deps) abortExport(r *http.Request, req domain.ExportRequest, rows int, err error) {
	ctx := r.Context()
	if ctx.Err() != nil {
		d.Log.WarnContext(ctx, "event export ended by the client", "request_id", RequestID(ctx), "campaign", req.CampaignID, "rows", rows)
	} else {
		d.Log.ErrorContext(ctx, "event export failed after it started; connection aborted", "request_id", RequestID(ctx),
			"campaign", req.CampaignID, "rows", rows, "err", err.Error())
	}
	panic(http.ErrAbortHandler)
}

// exportFilename names the file after the campaign and the range:
// events-<campaignId>-<from>-<to>.csv, the times in compact UTC.
func exportFilename(req domain.ExportRequest) string {
	const compact = "20060102T150405Z"
	name := "events-" + req.CampaignID
	if req.ParticipationID != "" {
		name += "-" + req.ParticipationID
	}
	return name + "-" + req.From.UTC().Format(compact) + "-" + req.To.UTC().Format(compact) + ".csv"
}

// writeExportError answers a failure before the export's first byte in
// /postback's shape, {"error": {"code", "message", "field"}}, with every
// invalid parameter in "errors" when there are several, and Retry-After
// for RATE_LIMITED.
func writeExportError(w http.ResponseWriter, r *http.Request, d Deps, err error) {
	var fe domain.FieldErrors
	var all []map[string]string
	if errors.As(err, &fe) && len(fe) > 0 {
		for _, e := range fe {
			all = append(all, map[string]string{"field": e.Field, "message": e.Message})
		}
		err = fe[0]
	}
	status, code, msg := d.httpError(r.Context(), "event export failed", err)
	body := map[string]any{"code": code, "message": msg}
	if f := domain.ErrorField(err); f != "" {
		body["field"] = f
	}
	out := map[string]any{"error": body}
	if len(all) > 1 {
		out["errors"] = all
	}
	if wait := domain.RetryAfter(err); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// exportMethodNotAllowed answers the export's route by a method other than
// GET (or HEAD) with 405, Allow and the export's error shape.
func exportMethodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]any{"code": domain.EINVALID,
		"message": "export events by GET"}})
}
