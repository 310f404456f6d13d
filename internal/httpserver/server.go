// Package httpserver serves the operator's HTTP surface (README "Operations"):
// GET /healthz (200 while the process runs), GET /readyz (200 only when every
// readiness check passes, else 503 with JSON naming what is not ready) and
// GET /metrics (Prometheus exposition of one registry).
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is ready. It must honour ctx: /readyz
// gives each check CheckTimeout and answers "timeout" for one that overruns.
// The error text is shown on /readyz, so it must never carry a secret (the
// connect package's errors and go-redis/nats.go dial errors do not).
type Check func(ctx context.Context) error

// DefaultCheckTimeout bounds one readiness check.
const DefaultCheckTimeout = 2 * time.Second

// Server is the HTTP server. Create with New, then Start (or Run) and
// Shutdown. Safe for concurrent use.
type Server struct {
	addr   string
	log    *slog.Logger
	checks map[string]Check
	srv    *http.Server

	// CheckTimeout bounds each readiness check; default DefaultCheckTimeout.
	// Set before Start.
	CheckTimeout time.Duration

	mu sync.Mutex
	ln net.Listener
}

// New builds a server on addr (":8080" style; ":0" picks a free port, see
// Addr). reg may be nil (then /metrics serves an empty registry); checks maps
// a dependency name ("nats", "redis", "auth0") to its check; log may be nil.
func New(addr string, reg *prometheus.Registry, checks map[string]Check, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{addr: addr, log: log, checks: make(map[string]Check, len(checks)), CheckTimeout: DefaultCheckTimeout}
	for k, v := range checks {
		if v != nil {
			s.checks[k] = v
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: slogPromLogger{log}}))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	return s
}

// Handler returns the server's handler (for tests or embedding in another mux).
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Start listens on the address and serves in a goroutine. It returns the
// listen error at once (e.g. "address already in use"), so the caller can
// exit with it instead of running without health endpoints.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http: listen on HTTP_ADDR %q: %w", s.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("http listening", "addr", ln.Addr().String())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the listening address after Start ("127.0.0.1:41234"), else "".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting connections and waits for in-flight requests until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

// Run starts the server and shuts it down when ctx ends (with up to 5s for
// in-flight requests).
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// Readiness is the /readyz body.
type Readiness struct {
	Ready bool `json:"ready"`
	// Failing maps each failing check's name to its reason; absent when ready.
	Failing map[string]string `json:"failing,omitempty"`
	// Checks lists every check's name, failing or not, sorted.
	Checks []string `json:"checks"`
}

// Ready runs every check concurrently, each with CheckTimeout, and reports.
func (s *Server) Ready(ctx context.Context) Readiness {
	type res struct {
		name string
		err  error
	}
	timeout := s.CheckTimeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	out := make(chan res, len(s.checks))
	for name, c := range s.checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out <- res{name, runCheck(cctx, c)}
		}()
	}
	r := Readiness{Ready: true, Checks: make([]string, 0, len(s.checks))}
	for range s.checks {
		x := <-out
		r.Checks = append(r.Checks, x.name)
		if x.err != nil {
			if r.Failing == nil {
				r.Failing = map[string]string{}
			}
			r.Failing[x.name] = x.err.Error()
			r.Ready = false
		}
	}
	sort.Strings(r.Checks)
	return r
}

// runCheck runs c, but answers when ctx ends even if c ignores it, so one
// hanging dependency cannot hang /readyz.
func runCheck(ctx context.Context, c Check) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- c(ctx)
	}()
	select {
	case err = <-done:
		if err != nil && ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return errors.New("timeout")
		}
		return err
	case <-ctx.Done():
		return errors.New("timeout")
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.Ready(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rd)
}

type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) { l.log.Error("metrics: " + fmt.Sprint(v...)) }
