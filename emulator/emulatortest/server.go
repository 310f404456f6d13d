// Package emulatortest runs the Auth0 emulator on a local port for tests of
// other packages. It is apart from package emulator so that nothing linking
// the emulator's handler (cmd/auth0-emulator, cmd/auth0-dev) links testing.
package emulatortest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/memhttp"
)

// Server is an emulator listening on 127.0.0.1 (or in memory, see
// InMemory) for tests.
type Server struct {
	// URL is the base URL, http://127.0.0.1:<port> (no trailing slash).
	URL      string
	Emulator *emulator.Emulator
	// ClientID and ClientSecret of the first configured client.
	ClientID, ClientSecret string

	addr    string
	handler http.Handler

	mem *memhttp.Server // set by InMemory; then addr, tr, mu and srv are unused
	tr  *http.Transport // this server's own pool of loopback connections

	mu  sync.Mutex
	srv *http.Server
}

// ServerOption changes how NewServer serves.
type ServerOption func(*serverOptions)

type serverOptions struct {
	wrap     []func(http.Handler) http.Handler
	inMemory bool
}

// InMemory serves over in-memory connections (internal/memhttp) instead of
// a port, for a test inside a testing/synctest bubble: the emulator's clock,
// its timers and the client's are then the bubble's fake clock. Only
// clients built on Transport reach it; URL is memhttp.URL. The server must
// be created inside the bubble.
func InMemory() ServerOption {
	return func(o *serverOptions) { o.inMemory = true }
}

// WithMiddleware wraps the emulator's handler, e.g. with
// contract.Middleware to validate every response against the OpenAPI spec.
func WithMiddleware(mw func(http.Handler) http.Handler) ServerOption {
	return func(o *serverOptions) { o.wrap = append(o.wrap, mw) }
}

// NewServer starts an emulator for cfg on a random 127.0.0.1 port and
// stops it when the test ends.
func NewServer(t testing.TB, cfg emulator.Config, opts ...ServerOption) *Server {
	t.Helper()
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	e := emulator.New(cfg)
	var h http.Handler = e
	for _, mw := range o.wrap {
		h = mw(h)
	}
	first := e.Clients()[0]
	s := &Server{
		Emulator:     e,
		ClientID:     first.ID,
		ClientSecret: first.Secret,
		handler:      h,
	}
	if o.inMemory {
		s.mem = memhttp.New(h)
		s.URL = memhttp.URL
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("emulator: listen: %v", err)
		}
		s.addr = ln.Addr().String()
		s.tr = http.DefaultTransport.(*http.Transport).Clone()
		s.URL = "http://" + s.addr
		s.serve(ln)
	}
	t.Cleanup(e.Close) // stops webhook deliveries, after s.Close (last in, first out)
	t.Cleanup(s.Close)
	return s
}

// Transport is the RoundTripper that reaches the server: the in-memory one
// with InMemory, else a transport of this server's own.
func (s *Server) Transport() http.RoundTripper {
	if s.mem != nil {
		return s.mem.Transport()
	}
	return s.tr
}

// Client is an http.Client over Transport.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.Transport()} }

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// Stop stops listening and drops every connection (SSE streams included);
// state is kept. Clients see connection refused until Start.
func (s *Server) Stop() {
	if s.mem != nil {
		s.mem.Stop()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Start listens again on the same address after Stop. It retries briefly
// while the port is still being released.
func (s *Server) Start() error {
	if s.mem != nil {
		s.mem.Start()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", s.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // port release is not observable otherwise
	}
	if err != nil {
		return errors.New("emulator: listen again on " + s.addr + ": " + err.Error())
	}
	s.serve(ln)
	return nil
}

// Restart is Stop then Start (an "Auth0 down" blip); it panics if the port
// cannot be taken again.
func (s *Server) Restart() {
	s.Stop()
	if err := s.Start(); err != nil {
		panic(err)
	}
}

// Close stops the server for good (idempotent).
func (s *Server) Close() {
	if s.mem != nil {
		s.mem.Close()
		return
	}
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	}
	s.tr.CloseIdleConnections()
}
