package emulator

import (
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/contract"
)

// newTestServer is NewTestServer for the emulator's own tests: every 2xx
// /api/v2 response is validated against the OpenAPI spec and every error
// body against AUTH0.md's shapes; a mismatch fails the test.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return NewTestServer(t, cfg, WithMiddleware(contract.Middleware(t)))
}
