package emulator

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/contract"
)

// Server is the emulator on a local port for the emulator's own tests. (Other
// packages use emulatortest.NewServer, which can also stop and restart; it
// cannot be used here: it imports this package.)
type Server struct {
	URL                    string
	Emulator               *Emulator
	ClientID, ClientSecret string
}

// startServer serves New(cfg), wrapped in mw, until the test ends.
func startServer(t testing.TB, cfg Config, mw ...func(http.Handler) http.Handler) *Server {
	t.Helper()
	e := New(cfg)
	t.Cleanup(e.Close) // after hs.Close (cleanups run last-in first-out)
	var h http.Handler = e
	for _, m := range mw {
		h = m(h)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	first := e.Clients()[0]
	return &Server{URL: hs.URL, Emulator: e, ClientID: first.ID, ClientSecret: first.Secret}
}

// newTestServer is startServer where every 2xx /api/v2 response is validated
// against the OpenAPI spec and every error body against Auth0's error shape; a
// mismatch fails the test.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startServer(t, cfg, contract.Middleware(t))
}
