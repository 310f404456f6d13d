package emulator

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/contract"
	"github.com/auth0-worker/auth0-worker/internal/memhttp"
)

// Server is the emulator on a local port for the emulator's own tests. (Other
// packages use emulatortest.NewServer, which can also stop and restart; it
// cannot be used here: it imports this package.)
type Server struct {
	URL                    string
	Emulator               *Emulator
	ClientID, ClientSecret string
	// Client reaches URL (the only way, for startMemServer).
	Client *http.Client
}

// startServer serves New(cfg), wrapped in mw, on a loopback port until the
// test ends.
func startServer(t testing.TB, cfg Config, mw ...func(http.Handler) http.Handler) *Server {
	t.Helper()
	e, h := wrapped(t, cfg, mw)
	url, client := serve(t, h, false)
	return serverFor(e, url, client)
}

// startMemServer is startServer over in-memory connections, for a test in a
// synctest bubble (which must call it): the emulator's clock and timers are
// the bubble's fake clock. Only s.Client reaches it.
func startMemServer(t testing.TB, cfg Config, mw ...func(http.Handler) http.Handler) *Server {
	t.Helper()
	e, h := wrapped(t, cfg, mw)
	url, client := serve(t, h, true)
	return serverFor(e, url, client)
}

// serve serves h until the test ends, on a loopback port or, with mem, over
// in-memory connections (internal/memhttp); it returns the base URL and a
// client reaching it (the only one, in memory).
func serve(t testing.TB, h http.Handler, mem bool) (string, *http.Client) {
	if mem {
		ms := memhttp.New(h)
		t.Cleanup(ms.Close)
		return memhttp.URL, ms.Client()
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL, hs.Client()
}

// wrapped is New(cfg), closed when the test ends, and its handler wrapped
// in mw.
func wrapped(t testing.TB, cfg Config, mw []func(http.Handler) http.Handler) (*Emulator, http.Handler) {
	e := New(cfg)
	t.Cleanup(e.Close) // after the server's Close (cleanups run last-in first-out)
	var h http.Handler = e
	for _, m := range mw {
		h = m(h)
	}
	return e, h
}

func serverFor(e *Emulator, url string, client *http.Client) *Server {
	first := e.Clients()[0]
	return &Server{URL: url, Emulator: e, ClientID: first.ID, ClientSecret: first.Secret, Client: client}
}

// newMemTestServer is newTestServer over in-memory connections (see
// startMemServer).
func newMemTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startMemServer(t, cfg, contract.Middleware(t))
}

// events is the server's Events API endpoint, for evOpen.
func (s *Server) events() evTarget { return evTarget{url: s.URL + "/api/v2/events", client: s.Client} }

// newTestServer is startServer where every 2xx /api/v2 response is validated
// against the OpenAPI spec and every error body against Auth0's error shape; a
// mismatch fails the test.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startServer(t, cfg, contract.Middleware(t))
}
