package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"tally/domain"
)

var secret = []byte("test-secret-test-secret-test-secret-0123")

func TestTokens(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens := NewTokens(secret, time.Hour, clock)
	user := domain.User{ID: "u1", Role: domain.RoleBrand}

	t.Run("RoundTrip", func(t *testing.T) {
		tok, err := tokens.Issue(user)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tokens.Verify(tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got, want := c.UserID, user.ID; got != want {
			t.Errorf("user id: got %q, want %q", got, want)
		}
		if got, want := c.Role, user.Role; got != want {
			t.Errorf("role: got %q, want %q", got, want)
		}
		if c.APIKey != nil {
			t.Errorf("api key: got %+v, want none", c.APIKey)
		}
	})

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u1", "role": "brand", "iss": "tally", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	expired, _ := NewTokens(secret, time.Minute, func() time.Time { return now.Add(-2 * time.Minute) }).Issue(user)
	otherKey, _ := NewTokens([]byte("another-secret-another-secret-another"), time.Hour, clock).Issue(user)
	for _, tc := range []struct {
		name, token string
	}{
		{"ErrExpired", expired},
		{"ErrOtherSecret", otherKey},
		{"ErrAlgNone", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())},
		{"ErrHS512", sign(jwt.SigningMethodHS512, secret, valid())},
		{"ErrOtherIssuer", sign(jwt.SigningMethodHS256, secret, with("iss", "someone"))},
		{"ErrNoExpiry", sign(jwt.SigningMethodHS256, secret, with("exp", nil))},
		{"ErrNoSubject", sign(jwt.SigningMethodHS256, secret, with("sub", nil))},
		{"ErrUnknownRole", sign(jwt.SigningMethodHS256, secret, with("role", "king"))},
		{"ErrGarbage", "not.a.token"},
		{"ErrEmpty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := tokens.Verify(tc.token); err == nil {
				t.Errorf("Verify accepted it: %+v", c)
			}
		})
	}
	t.Run("OKOldRoleCase", func(t *testing.T) {
		c, err := tokens.Verify(sign(jwt.SigningMethodHS256, secret, with("role", "ADMIN")))
		if err != nil || c.Role != domain.RoleAdmin {
			t.Errorf("got %q, %v; want admin", c.Role, err)
		}
	})
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	p := NewPasswords(bcrypt.MinCost)
	hash, err := p.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, "correct horse") {
		t.Fatal("the hash holds the password")
	}
	for _, tc := range []struct {
		name, hash, password string
		want                 bool
	}{
		{"Right", hash, "correct horse", true},
		{"Wrong", hash, "correct horsE", false},
		{"Empty", hash, "", false},
		{"NoAccount", "", "correct horse", false},
		{"NotAHash", "plain", "plain", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Check(tc.hash, tc.password); got != tc.want {
				t.Errorf("Check: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCallerRules(t *testing.T) {
	t.Parallel()
	key := &domain.APIKey{OwnerID: "b1", OwnerRole: domain.RoleBrand}
	for _, tc := range []struct {
		name                            string
		c                               Caller
		authenticated, admin, actsForU1 bool
		requireCode                     string // RequireUser's
	}{
		{"Anonymous", Caller{}, false, false, false, domain.EUNAUTHENTICATED},
		{"APIKeyOnly", Caller{APIKey: key}, false, false, false, domain.EUNAUTHENTICATED},
		{"Streamer", Caller{UserID: "u1", Role: domain.RoleStreamer}, true, false, true, ""},
		{"OtherUser", Caller{UserID: "u2", Role: domain.RoleBrand}, true, false, false, ""},
		{"Admin", Caller{UserID: "a", Role: domain.RoleAdmin}, true, true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Authenticated(); got != tc.authenticated {
				t.Errorf("Authenticated: got %v, want %v", got, tc.authenticated)
			}
			if got := tc.c.IsAdmin(); got != tc.admin {
				t.Errorf("IsAdmin: got %v, want %v", got, tc.admin)
			}
			if got := tc.c.ActsFor("u1"); got != tc.actsForU1 {
				t.Errorf("ActsFor(u1): got %v, want %v", got, tc.actsForU1)
			}
			ctx := WithCaller(context.Background(), tc.c)
			if got := CallerFrom(ctx); got != tc.c {
				t.Errorf("CallerFrom: got %+v, want %+v", got, tc.c)
			}
			if _, err := RequireUser(ctx); domain.ErrorCode(err) != tc.requireCode {
				t.Errorf("RequireUser: code %q, want %q", domain.ErrorCode(err), tc.requireCode)
			}
		})
	}
	if got := CallerFrom(context.Background()); got != (Caller{}) {
		t.Errorf("CallerFrom without a caller: got %+v, want anonymous", got)
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		c      Caller
		action domain.Action
		code   string
	}{
		{"AnonymousIsUnauthenticated", Caller{}, domain.ActionCreateCampaign, domain.EUNAUTHENTICATED},
		{"BrandCreates", Caller{UserID: "b", Role: domain.RoleBrand}, domain.ActionCreateCampaign, ""},
		{"StreamerMayNotCreate", Caller{UserID: "s", Role: domain.RoleStreamer}, domain.ActionCreateCampaign, domain.EFORBIDDEN},
		{"AdminMayNotCreate", Caller{UserID: "a", Role: domain.RoleAdmin}, domain.ActionCreateCampaign, domain.EFORBIDDEN},
		{"AdminChanges", Caller{UserID: "a", Role: domain.RoleAdmin}, domain.ActionChangeCampaign, ""},
		{"StreamerJoins", Caller{UserID: "s", Role: domain.RoleStreamer}, domain.ActionJoinCampaign, ""},
		{"BrandMayNotJoin", Caller{UserID: "b", Role: domain.RoleBrand}, domain.ActionJoinCampaign, domain.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Require(WithCaller(context.Background(), tc.c), tc.action)
			if got := domain.ErrorCode(err); got != tc.code {
				t.Errorf("code: got %q, want %q (%v)", got, tc.code, err)
			}
			if c != tc.c {
				t.Errorf("caller: got %+v, want %+v", c, tc.c)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	t.Run("BrowserSourceToken", func(t *testing.T) {
		a, b := NewBrowserSourceToken(), NewBrowserSourceToken()
		if len(a) != 43 || strings.ContainsAny(a, "+/=") {
			t.Errorf("token %q: want 43 URL-safe characters", a)
		}
		if a == b {
			t.Error("two tokens are the same")
		}
	})
	t.Run("APIKey", func(t *testing.T) {
		key, hash := NewAPIKey()
		if !strings.HasPrefix(key, APIKeyPrefix) || len(key) != len(APIKeyPrefix)+43 {
			t.Errorf("key %q: want %s and 43 characters", key, APIKeyPrefix)
		}
		if got := HashAPIKey(key); got != hash {
			t.Errorf("HashAPIKey(key) = %q, want the hash NewAPIKey returned %q", got, hash)
		}
		if len(hash) != 64 || strings.Contains(hash, key) {
			t.Errorf("hash %q: want 64 hex digits that do not hold the key", hash)
		}
		if other, _ := NewAPIKey(); HashAPIKey(other) == hash {
			t.Error("two keys hash the same")
		}
	})
}
