// Package testnats starts an embedded NATS server with JetStream for tests,
// the way httptest.NewServer starts an HTTP server: on a random port, with its
// file store under t.TempDir(), shut down by t.Cleanup.
package testnats

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is a running embedded NATS server. Restart keeps its port and its
// JetStream store, so tests can restart NATS "with its data".
type Server struct {
	t        testing.TB
	mu       sync.Mutex
	srv      *server.Server
	opts     server.Options
	url      string
	StoreDir string
}

// Option adjusts the server options before the first start (auth, TLS ...).
type Option func(*server.Options)

// Start starts a JetStream-enabled server on a random loopback port.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := newServer(t, opts...)
	s.start()
	// From now on the port is fixed, so a restart comes back on the same URL.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Shutdown)
	return s
}

func newServer(t testing.TB, opts ...Option) *Server {
	s := &Server{t: t, StoreDir: t.TempDir()}
	s.opts = server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   s.StoreDir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	for _, o := range opts {
		o(&s.opts)
	}
	return s
}

func (s *Server) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart is start for other goroutines than the test's (no t.Fatal).
func (s *Server) tryStart() error {
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("testnats: new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("testnats: server %s not ready within 10s", opts.ServerName)
	}
	s.mu.Lock()
	s.srv = srv
	s.url = srv.ClientURL()
	s.mu.Unlock()
	return nil
}

// URL is the client URL, nats://127.0.0.1:<port>; it survives Restart.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Server returns the running embedded server.
func (s *Server) Server() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Shutdown stops the server and waits for it; safe to call twice.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// Restart shuts the server down and starts it again on the same port with the
// same JetStream store directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}

// Connect returns a client connection closed by t.Cleanup. It reconnects
// forever, so it survives Restart.
func (s *Server) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, s.URL(), opts...)
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("testnats: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
