// Package testredis starts a real redis-server for tests on a free loopback
// port, with its data directory under t.TempDir(), stopped by t.Cleanup.
// The binary must be on PATH (.ci/run installs it); a test fails, never skips,
// when it is missing.
package testredis

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options for the server. The zero value is a plain server with AOF
// persistence on, so Restart keeps the data.
type Options struct {
	// Password sets requirepass (the default user's password).
	Password string
	// ACLUser and ACLPassword add an ACL user with all permissions and
	// disable the default user.
	ACLUser, ACLPassword string
	// ExtraArgs are appended to the redis-server command line.
	ExtraArgs []string
}

// Server is a running redis-server.
type Server struct {
	t    testing.TB
	opts Options
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// Start starts redis-server with default options.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts redis-server with opts.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testredis: redis-server is not on PATH (apt-get install -y redis-server): %v", err)
	}
	s := &Server{t: t, opts: opts, dir: t.TempDir(), port: freePort(t)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testredis: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL with the credentials of Options, database 0.
func (s *Server) URL() string {
	switch {
	case s.opts.ACLUser != "":
		return fmt.Sprintf("redis://%s:%s@%s/0", s.opts.ACLUser, s.opts.ACLPassword, s.Addr())
	case s.opts.Password != "":
		return fmt.Sprintf("redis://:%s@%s/0", s.opts.Password, s.Addr())
	}
	return "redis://" + s.Addr() + "/0"
}

// Start (re)starts the server process on the same port and data directory.
func (s *Server) Start() {
	s.t.Helper()
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--daemonize", "no", "--protected-mode", "no", "--logfile", "",
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	if s.opts.ACLUser != "" {
		acl := s.dir + "/users.acl"
		content := fmt.Sprintf("user default off\nuser %s on >%s ~* &* +@all\n", s.opts.ACLUser, s.opts.ACLPassword)
		if err := os.WriteFile(acl, []byte(content), 0o600); err != nil {
			s.t.Fatalf("testredis: acl file: %v", err)
		}
		args = append(args, "--aclfile", acl)
	}
	args = append(args, s.opts.ExtraArgs...)
	cmd := exec.Command("redis-server", args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testredis: start: %v", err)
	}
	s.mu.Lock()
	s.cmd, s.out = cmd, out
	s.mu.Unlock()

	rdb := redis.NewClient(s.clientOptions())
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("testredis: not ready within 10s: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL: AOF with fsync always keeps every write)
// and waits for it; safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// Restart stops and starts the server keeping its data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *Server) clientOptions() *redis.Options {
	o, err := redis.ParseURL(s.URL())
	if err != nil {
		s.t.Fatalf("testredis: %v", err)
	}
	o.ContextTimeoutEnabled = true // as internal/connect builds the worker's clients
	return o
}

// Client returns a go-redis client for this server, closed by t.Cleanup.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.clientOptions())
	t.Cleanup(func() { _ = c.Close() })
	return c
}
