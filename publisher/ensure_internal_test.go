package publisher

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

// A cluster that cannot place a stream yet answers "no suitable peers for
// placement" (err_code 10005): a fresh three-node cluster did so in CI for a
// moment after it reported ready ("peer offline"), and the worker exited.
// Such an answer is asked again until the caller's deadline, not final.
// Here placement tags no node has make the cluster give that answer for
// as long as the test needs.
func TestEnsureRetriesWhileTheClusterCannotPlace(t *testing.T) {
	c := testnats.StartCluster(t)
	js, err := jetstream.New(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NamesFor("auth0").UsersStream(StreamOptions{Replicas: 3})
	cfg.Placement = &jetstream.Placement{Tags: []string{"no-such-node"}}
	var logs testproc.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err = ensureRetrying(ctx, js, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeClusterNoPeers {
		t.Fatalf("ensureRetrying: %v, want the cluster's last 10005 answer", err)
	}
	if ctx.Err() == nil {
		t.Fatalf("ensureRetrying gave up before its deadline: %v", err)
	}
	if n := strings.Count(logs.String(), "cannot place the stream yet"); n < 2 {
		t.Fatalf("asked %d times, want the placement asked again until the deadline; log:\n%s", n, logs.String())
	}
}
