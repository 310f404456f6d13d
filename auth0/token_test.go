package auth0_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

const testSecret = "very-secret-value-123"

func newTestClient(t *testing.T, h http.HandlerFunc) *auth0.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: testSecret, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenErrorsAreOAuthShapedAndSecretFree(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"error":"access_denied","error_description":"Client ` + testSecret + ` is not authorized"}`))
	})
	err := c.EnsureToken(context.Background())
	var te *auth0.TokenError
	if !errors.As(err, &te) || te.Status != 403 || te.Code != "access_denied" {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatalf("secret in %q", err)
	}
}

func TestTokenSentAsJSONWithAudience(t *testing.T) {
	var calls atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			if calls.Add(1) == 1 {
				w.WriteHeader(503) // retried
				return
			}
			var body map[string]string
			if err := jsonDecode(r, &body); err != nil || body["grant_type"] != "client_credentials" || body["client_secret"] != testSecret || !strings.HasSuffix(body["audience"], "/api/v2/") {
				w.WriteHeader(400)
				return
			}
			_, _ = w.Write([]byte(`{"access_token":"abc","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
	})
	if err := c.EnsureToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d token calls", calls.Load())
	}
}

// A second 401 after a fresh token is returned, not looped on.
func TestPersistent401RefreshesOnce(t *testing.T) {
	var tokens, api atomic.Int32
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			tokens.Add(1)
			_, _ = w.Write([]byte(`{"access_token":"abc","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		api.Add(1)
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"statusCode":401,"error":"Unauthorized","message":"Invalid token"}`))
	})
	_, err := c.GetUser(context.Background(), "auth0|1")
	var ae *auth0.APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("err = %v", err)
	}
	if tokens.Load() != 2 || api.Load() != 2 {
		t.Fatalf("%d tokens, %d API calls", tokens.Load(), api.Load())
	}
	if strings.Contains(err.Error(), "abc") {
		t.Fatalf("token in error %q", err)
	}
}

// Network errors name the operation but not the query (emails) nor tokens.
func TestTransportErrorsCarryNoQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"tok-xyz","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		// Hijack and drop the connection: a network failure mid-request.
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c, _ := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: testSecret, MaxRetries: 1})
	_, err := c.UsersByEmail(context.Background(), "bob@example.com")
	if !errors.Is(err, auth0.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	for _, s := range []string{"bob", "tok-xyz", testSecret} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("%q in %q", s, err)
		}
	}
	// A create on a dropped connection is ambiguous.
	_, err = c.CreateUser(context.Background(), []byte(`{"connection":"c"}`))
	if !errors.Is(err, auth0.ErrAmbiguous) {
		t.Fatalf("create err = %v", err)
	}
	var ne net.Error
	_ = errors.As(err, &ne)
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  auth0.Config
		want string
	}{
		{auth0.Config{ClientID: "a", ClientSecret: "b"}, "BaseURL is required"},
		{auth0.Config{BaseURL: "tenant.auth0.com", ClientID: "a", ClientSecret: "b"}, "BaseURL"},
		{auth0.Config{BaseURL: "https://t.auth0.com/api", ClientID: "a", ClientSecret: "b"}, "no path"},
		{auth0.Config{BaseURL: "https://t.auth0.com", ClientSecret: "b"}, "ClientID"},
		{auth0.Config{BaseURL: "https://t.auth0.com", ClientID: "a"}, "ClientSecret"},
		{auth0.Config{BaseURL: "https://t.auth0.com", ClientID: "a", ClientSecret: "b", MaxRPS: -1}, "MaxRPS"},
		{auth0.Config{BaseURL: "https://t.auth0.com", ClientID: "a", ClientSecret: "b", APICallAllow: []string{"FETCH /users"}}, "FETCH"},
	} {
		_, err := auth0.New(tc.cfg)
		if !errors.Is(err, auth0.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg.BaseURL, err, tc.want)
		}
	}
}

func TestMaxRPSCeiling(t *testing.T) {
	c := newTestClientCfg(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"abc","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		_, _ = w.Write([]byte(`{"user_id":"auth0|1"}`))
	}, func(c *auth0.Config) { c.MaxRPS = 20 })
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 30; i++ {
		if _, err := c.GetUser(ctx, "auth0|1"); err != nil {
			t.Fatal(err)
		}
	}
	// Burst 20, then 10 more at 20/s: at least ~0.5 s.
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("30 requests in %v: the 20 req/s ceiling did not hold", el)
	}
}

func newTestClientCfg(t *testing.T, h http.HandlerFunc, mod func(*auth0.Config)) *auth0.Client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := auth0.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: testSecret, MaxRetries: 2}
	mod(&cfg)
	c, err := auth0.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
