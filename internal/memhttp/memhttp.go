// Package memhttp serves an http.Handler over in-memory connections
// (net.Pipe) instead of a loopback port, for tests.
//
// Inside a testing/synctest bubble, a goroutine waiting on such a connection
// is durably blocked (a wait on a loopback socket is not), so the bubble's
// fake clock drives the handler's timers and the client's alike: a test of
// token expiry, rate-limit resets, retries or SSE heartbeats runs in
// microseconds with time.Now, time.Sleep and timers as they are in
// production. The Server must be started inside the bubble that uses it.
// Responses stream (SSE included): the handler's Flush reaches the client.
package memhttp

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// URL is the base URL of every Server. The .invalid name never resolves,
// so a request that bypasses the Server's transport fails instead of
// reaching something else.
const URL = "http://emulator.invalid"

// Server serves a handler to clients built from its Transport.
type Server struct {
	handler   http.Handler
	transport *http.Transport
	// running counts handlers in progress: Close waits for them, so that
	// a handler asleep on a timer (e.g. a latency knob, which a request
	// with an unread body cannot interrupt) ends before the bubble does.
	running handlers

	mu  sync.Mutex
	ln  *listener    // nil while stopped
	srv *http.Server // nil while stopped
}

// New starts serving h.
func New(h http.Handler) *Server {
	s := &Server{}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.running.enter()
		defer s.running.leave()
		h.ServeHTTP(w, r)
	})
	s.transport = &http.Transport{DialContext: s.dial, ForceAttemptHTTP2: false}
	s.Start()
	return s
}

// Transport is the RoundTripper that reaches the handler, whatever the
// request's host.
func (s *Server) Transport() http.RoundTripper { return s.transport }

// Client is an http.Client over Transport.
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.transport} }

// Start serves again after Stop (a no-op while serving).
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	s.ln = &listener{conns: make(chan net.Conn), done: make(chan struct{})}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server, ln net.Listener) { _ = srv.Serve(ln) }(s.srv, s.ln)
}

// Stop drops every connection (streams included); new requests fail with
// a dial error (connection refused) until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // closes the listener too
	}
	s.transport.CloseIdleConnections()
}

// Close stops the server for good and waits for the handlers in progress
// to return.
func (s *Server) Close() {
	s.Stop()
	s.running.wait()
}

// handlers counts handlers in progress. (A sync.WaitGroup may not be
// added to while a Wait is under way, which is what a request arriving
// during Close would do.)
type handlers struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (h *handlers) enter() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		h.idle = make(chan struct{})
	}
	h.n++
}

func (h *handlers) leave() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n--
	if h.n == 0 {
		close(h.idle)
	}
}

func (h *handlers) wait() {
	h.mu.Lock()
	idle := h.idle
	n := h.n
	h.mu.Unlock()
	if n > 0 {
		<-idle
	}
}

func (s *Server) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	refused := &net.OpError{Op: "dial", Net: "memhttp", Err: syscall.ECONNREFUSED}
	if ln == nil {
		return nil, refused
	}
	client, server := net.Pipe()
	select {
	case ln.conns <- server:
		return client, nil
	case <-ln.done:
		return nil, refused
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "memhttp", Err: ctx.Err()}
	}
}

// listener hands the server ends of dialled pipes to http.Server.
type listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *listener) Addr() net.Addr { return addr{} }

type addr struct{}

func (addr) Network() string { return "memhttp" }
func (addr) String() string  { return "emulator.invalid:80" }
