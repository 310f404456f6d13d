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

	"github.com/auth0-worker/auth0-worker/internal/testpki"
)

// Options for the server. The zero value is a plain server with AOF
// persistence on, so Restart keeps the data.
type Options struct {
	// Password sets requirepass (the default user's password).
	Password string
	// ACLUser and ACLPassword add an ACL user with all permissions and
	// disable the default user.
	ACLUser, ACLPassword string
	// TLS, when set, serves TLS only (no plain port) with its server
	// certificate; clients must trust its CA. Replication and the cluster
	// bus use TLS too. Client certificates are optional unless MutualTLS.
	TLS       *testpki.PKI
	MutualTLS bool
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

// Port is the (TLS) port.
func (s *Server) Port() int { return s.port }

// URL is a redis:// (rediss:// with TLS) URL with the credentials of
// Options, database 0.
func (s *Server) URL() string {
	scheme := "redis"
	if s.opts.TLS != nil {
		scheme = "rediss"
	}
	switch {
	case s.opts.ACLUser != "":
		return fmt.Sprintf("%s://%s:%s@%s/0", scheme, s.opts.ACLUser, s.opts.ACLPassword, s.Addr())
	case s.opts.Password != "":
		return fmt.Sprintf("%s://:%s@%s/0", scheme, s.opts.Password, s.Addr())
	}
	return scheme + "://" + s.Addr() + "/0"
}

// TLSArgs are the redis-server arguments serving TLS only on port with p's
// server certificate (replication and cluster bus over TLS too).
func TLSArgs(p *testpki.PKI, port int, mutual bool) []string {
	auth := "optional"
	if mutual {
		auth = "yes"
	}
	return []string{
		"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", p.ServerCert, "--tls-key-file", p.ServerKey, "--tls-ca-cert-file", p.CAFile,
		"--tls-auth-clients", auth, "--tls-replication", "yes", "--tls-cluster", "yes",
	}
}

// ACLFile writes an ACL file turning the default user off and adding user
// with every permission; it returns the path.
func ACLFile(t testing.TB, dir, user, password string) string {
	t.Helper()
	acl := dir + "/users.acl"
	content := fmt.Sprintf("user default off\nuser %s on >%s ~* &* +@all\n", user, password)
	if err := os.WriteFile(acl, []byte(content), 0o600); err != nil {
		t.Fatalf("testredis: acl file: %v", err)
	}
	return acl
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
		args = append(args, "--aclfile", ACLFile(s.t, s.dir, s.opts.ACLUser, s.opts.ACLPassword))
	}
	if s.opts.TLS != nil {
		args = append(args, TLSArgs(s.opts.TLS, s.port, s.opts.MutualTLS)...)
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
	if s.opts.TLS != nil {
		o.TLSConfig = s.opts.TLS.ClientTLS(s.t)
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
