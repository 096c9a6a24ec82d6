package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"tally/domain"
)

// TestHTTPErrorStatus: each domain code has its one HTTP status outside
// GraphQL, anything else is 500.
func TestHTTPErrorStatus(t *testing.T) {
	d := Deps{Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{domain.Errorf(domain.EINVALID, "bad"), http.StatusBadRequest},
		{domain.Errorf(domain.EUNAUTHENTICATED, "who"), http.StatusUnauthorized},
		{domain.Errorf(domain.EFORBIDDEN, "no"), http.StatusForbidden},
		{domain.Errorf(domain.ENOTFOUND, "gone"), http.StatusNotFound},
		{domain.Errorf(domain.ECONFLICT, "taken"), http.StatusConflict},
		{domain.Errorf(domain.ERATELIMITED, "slow down"), http.StatusTooManyRequests},
		{domain.Errorf(domain.EUNAVAILABLE, "later"), http.StatusServiceUnavailable},
		{domain.Errorf(domain.EINTERNAL, "oops"), http.StatusInternalServerError},
		{errors.New("plain"), http.StatusInternalServerError},
	} {
		if got, code, _ := d.httpError(ctx, "test", tc.err); got != tc.want {
			t.Errorf("%s: status %d, want %d", code, got, tc.want)
		}
	}
}
