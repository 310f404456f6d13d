package emulator

import "testing"

// newTestServer is NewTestServer for the emulator's own tests.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return NewTestServer(t, cfg)
}
