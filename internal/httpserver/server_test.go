package httpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/httpserver"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers want, or fails after the deadline.
func waitStatus(t *testing.T, url string, want int, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := get(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: status %d, want %d within %v; body %s", url, code, want, d, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func start(t *testing.T, reg *prometheus.Registry, checks map[string]httpserver.Check) string {
	t.Helper()
	s := httpserver.New("127.0.0.1:0", reg, checks, nil)
	s.CheckTimeout = 500 * time.Millisecond
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return "http://" + s.Addr()
}

func TestReadyzFollowsRedis(t *testing.T) {
	const password = "s3cr3t-redis-pass"
	rs := testredis.StartWith(t, testredis.Options{ACLUser: "worker", ACLPassword: password})
	opts, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1 // a check must answer now, not after retries
	opts.DialTimeout = 200 * time.Millisecond
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ns := testnats.Start(t)
	nc := ns.Connect(t)

	base := start(t, nil, map[string]httpserver.Check{
		"redis": httpserver.RedisCheck(rdb),
		"nats":  httpserver.NATSCheck(nc),
	})

	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	body := waitStatus(t, base+"/readyz", 200, 5*time.Second)
	var rd httpserver.Readiness
	if err := json.Unmarshal([]byte(body), &rd); err != nil || !rd.Ready || len(rd.Failing) != 0 {
		t.Fatalf("ready body %q (%v)", body, err)
	}
	if strings.Join(rd.Checks, ",") != "nats,redis" {
		t.Fatalf("checks = %v", rd.Checks)
	}

	rs.Stop()
	body = waitStatus(t, base+"/readyz", 503, 5*time.Second)
	rd = httpserver.Readiness{}
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("503 body not JSON: %q: %v", body, err)
	}
	if rd.Ready || rd.Failing["redis"] == "" {
		t.Fatalf("503 body does not name redis: %s", body)
	}
	if _, bad := rd.Failing["nats"]; bad {
		t.Fatalf("nats reported failing while up: %s", body)
	}
	if strings.Contains(body, password) {
		t.Fatalf("/readyz leaks the password: %s", body)
	}
	// Liveness does not depend on readiness.
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d while redis is down", code)
	}

	rs.Start()
	waitStatus(t, base+"/readyz", 200, 10*time.Second)

	ns.Shutdown()
	body = waitStatus(t, base+"/readyz", 503, 5*time.Second)
	if !strings.Contains(body, `"nats"`) {
		t.Fatalf("503 body does not name nats: %s", body)
	}
}

func TestReadyzHangingCheckTimesOut(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	base := start(t, nil, map[string]httpserver.Check{
		"auth0": func(context.Context) error { <-block; return nil }, // ignores ctx
		"ok":    func(context.Context) error { return nil },
	})
	t0 := time.Now()
	code, body := get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, `"auth0":"timeout"`) || strings.Contains(body, `"ok":`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if el := time.Since(t0); el > 3*time.Second {
		t.Fatalf("/readyz took %v with a 500ms check timeout", el)
	}
}

func TestMetricsServesRegistry(t *testing.T) {
	m := metrics.New()
	m.Published("search", "created", []time.Time{time.Now().Add(-time.Second)})
	m.Request("users.search", 200)
	m.Commands.WithLabelValues("users.create", "svc", "ok").Inc()
	base := start(t, m.Registry, nil)
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`auth0_worker_users_published_total{source="search",type="created"} 1`,
		`auth0_worker_auth0_requests_total{op="users.search",status="200"} 1`,
		`auth0_worker_commands_total{command="users.create",outcome="ok",transport="svc"} 1`,
		`auth0_worker_event_lag_seconds_count{type="created"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// No checks at all: ready.
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Fatalf("/readyz with no checks = %d %s", code, body)
	}
}

func TestReadyzAuth0Token(t *testing.T) {
	em := emulatortest.NewServer(t, emulator.Config{})
	good, err := auth0.New(auth0.Config{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "not-the-secret-123"
	bad, err := auth0.New(auth0.Config{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: wrong, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, start(t, nil, map[string]httpserver.Check{"auth0": httpserver.Auth0Check(good)})+"/readyz"); code != 200 {
		t.Fatalf("good token: %d %s", code, body)
	}
	code, body := get(t, start(t, nil, map[string]httpserver.Check{"auth0": httpserver.Auth0Check(bad)})+"/readyz")
	if code != 503 || !strings.Contains(body, `"auth0":"auth0: token: 401`) || strings.Contains(body, wrong) {
		t.Fatalf("bad secret: %d %s", code, body)
	}
}
