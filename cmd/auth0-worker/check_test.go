package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

// check's output is its lines and its verdict: go-redis's own pool log
// ("redis: … pool.go:… failed to dial") used to be printed between them
// whenever Redis was unreachable.
func TestCheckPrintsOnlyItsOwnLines(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String() // nothing listens once closed
	l.Close()
	p := testproc.Start(t, t.TempDir(), []string{"AUTH0_DOMAIN=http://" + closed, "AUTH0_CLIENT_ID=id",
		"AUTH0_CLIENT_SECRET=secret", "REDIS_URL=redis://" + closed, "NATS_URL=nats://" + closed}, "check")
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("check did not finish within 60s")
	}
	out := p.Out.String()
	if !strings.Contains(out, "FAIL  redis") {
		t.Fatalf("no FAIL line for redis:\n%s", out)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 0 || (f[0] != "PASS" && f[0] != "FAIL" && f[0] != "SKIP" && line != "some checks failed" && line != "auth0-worker: check failed") {
			t.Errorf("check printed a line of someone else's: %q", line)
		}
	}
}
