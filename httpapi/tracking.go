package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"tally/auth"
	"tally/domain"
)

// APIKeyAuthenticator checks a partner's API key.
type APIKeyAuthenticator interface {
	AuthenticateAPIKey(ctx context.Context, key string) (domain.APIKey, error)
}

// Tracker records clicks and conversions outside GraphQL.
type Tracker interface {
	ClickRedirect(ctx context.Context, token string, subs domain.SubIDs) (string, error)
	RecordConversion(ctx context.Context, in domain.ConversionInput) (domain.Conversion, bool, error)
}

// withAPIKey adds the partner behind an X-Api-Key header to the caller. An
// unknown or revoked key is refused at once with UNAUTHENTICATED rather than
// treated as anonymous, so a partner learns its key is wrong.
func withAPIKey(d Deps, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, err := callerWithKey(r.Context(), d.APIKeys, key)
		if err != nil {
			status, code, msg := d.httpError(r.Context(), "API key check failed", err)
			writeGraphQLError(w, status, code, msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func callerWithKey(ctx context.Context, keys APIKeyAuthenticator, key string) (context.Context, error) {
	k, err := keys.AuthenticateAPIKey(ctx, key)
	if err != nil {
		return ctx, err
	}
	c := auth.CallerFrom(ctx)
	c.APIKey = &k
	noteCaller(ctx, false, "", true)
	return auth.WithCaller(ctx, c), nil
}

// httpStatus is the one mapping of domain codes to HTTP statuses outside
// GraphQL; a code not in it is 500.
var httpStatus = map[string]int{
	domain.EINVALID:         http.StatusBadRequest,
	domain.EUNAUTHENTICATED: http.StatusUnauthorized,
	domain.EFORBIDDEN:       http.StatusForbidden,
	domain.ENOTFOUND:        http.StatusNotFound,
	domain.ECONFLICT:        http.StatusConflict,
	domain.ERATELIMITED:     http.StatusTooManyRequests,
	domain.EUNAVAILABLE:     http.StatusServiceUnavailable,
}

// httpError maps an error to an HTTP status (httpStatus), its code and a
// message safe to show. An internal error is logged here, with what failed
// and the request id, since its client sees only "Internal error.".
func (d Deps) httpError(ctx context.Context, what string, err error) (int, string, string) {
	code := domain.ErrorCode(err)
	status := httpStatus[code]
	if status == 0 {
		status = http.StatusInternalServerError
		d.Log.ErrorContext(ctx, what, "request_id", RequestID(ctx), "err", err.Error())
	}
	if code == domain.EUNAVAILABLE {
		d.Log.WarnContext(ctx, what, "request_id", RequestID(ctx), "err", err.Error())
	}
	return status, code, domain.ErrorMessage(err)
}

// clickRedirect serves GET /r/{browserSourceToken}, the link a streamer puts
// in chat: it records a click with a fresh id and redirects (302) to the
// campaign's landing URL with the click id filled in. The token never leaves
// in a Referer header, and the response is never cached.
func clickRedirect(t Tracker, d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex")
		q := r.URL.Query()
		subs := domain.SubIDs{q.Get("sub1"), q.Get("sub2"), q.Get("sub3"), q.Get("sub4"), q.Get("sub5")}
		target, err := t.ClickRedirect(r.Context(), r.PathValue("token"), subs)
		if err != nil {
			status, _, _ := d.httpError(r.Context(), "click redirect failed", err)
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<!doctype html><title>Not found</title><p>This link is not valid any more.</p>\n"))
			return
		}
		http.Redirect(w, r, target, http.StatusFound)
	}
}

// postback serves GET|POST /postback, partner servers' conversion callback:
// click_id, goal_id, external_id, and optionally txn_id and status, as query
// or form parameters (a JSON body is not read), the API key in X-Api-Key or
// a key parameter. It answers JSON: 200 {"isNew", "conversionId", "status",
// "billing", "payout", "charged", "currency"} or a 4xx {"error": {"code",
// "message", "field"}}.
func postback(t Tracker, d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.ContentLength > postbackMaxBody {
			writePostbackTooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, postbackMaxBody)
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writePostbackTooLarge(w)
				return
			}
			d.writePostbackError(w, r, domain.Errorf(domain.EINVALID, "the request's parameters could not be read"))
			return
		}
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			key = r.Form.Get("key")
		}
		if key == "" {
			d.writePostbackError(w, r, domain.Errorf(domain.EUNAUTHENTICATED, "send the API key in X-Api-Key or the key parameter"))
			return
		}
		ctx, err := callerWithKey(r.Context(), d.APIKeys, key)
		if err != nil {
			d.writePostbackError(w, r, err)
			return
		}
		in := domain.ConversionInput{ClickID: r.Form.Get("click_id"), GoalID: r.Form.Get("goal_id"),
			ExternalID: r.Form.Get("external_id"), TransactionID: r.Form.Get("txn_id")}
		if s := r.Form.Get("status"); s != "" {
			st, ok := domain.ParseConversionStatus(s)
			if !ok {
				d.writePostbackError(w, r, domain.Invalid("input.status", "status must be pending, approved or rejected, got %q", s))
				return
			}
			in.Status = &st
		}
		conv, isNew, err := t.RecordConversion(ctx, in)
		if err != nil {
			d.writePostbackError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"isNew": isNew, "conversionId": conv.ID, "status": conv.Status.Name(),
			"billing": conv.Billing.Name(), "payout": conv.Payout.String(), "charged": conv.Charged.String(), "currency": d.Resolver.Currency})
	}
}

// postbackMaxBody is the largest /postback body, a form of a few parameters.
const postbackMaxBody = 64 << 10

// writePostbackTooLarge answers a body over postbackMaxBody with 413 in the
// postback's own error shape (not the GraphQL one /query answers with).
func writePostbackTooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]any{"code": domain.EINVALID,
		"message": fmt.Sprintf("request body is larger than the limit of %d bytes", postbackMaxBody)}})
}

// postbackMethodNotAllowed answers /postback by a method other than GET or
// POST with 405, Allow and the postback's error shape.
func postbackMethodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, POST")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]any{"code": domain.EINVALID,
		"message": "send a postback by GET or POST"}})
}

// postbackFields names input fields as the postback's parameters.
var postbackFields = map[string]string{"input.clickId": "click_id", "input.goalId": "goal_id", "input.externalId": "external_id",
	"input.transactionId": "txn_id", "input.status": "status"}

func (d Deps) writePostbackError(w http.ResponseWriter, r *http.Request, err error) {
	var fe domain.FieldErrors
	if errors.As(err, &fe) && len(fe) > 0 {
		err = fe[0] // one field at a time, as a partner's URL is fixed one parameter at a time
	}
	status, code, msg := d.httpError(r.Context(), "postback failed", err)
	body := map[string]any{"code": code, "message": msg}
	if f := domain.ErrorField(err); f != "" {
		if p, ok := postbackFields[f]; ok {
			// The message names the parameter as sent too ("click_id is
			// required", not recordConversion's "clickId is required").
			if rest, ok := strings.CutPrefix(msg, strings.TrimPrefix(f, "input.")+" "); ok {
				body["message"] = p + " " + rest
			}
			f = p
		}
		body["field"] = strings.TrimPrefix(f, "input.")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}
