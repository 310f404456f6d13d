package connect_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

// A hanging Redis (a real one, paused with CLIENT PAUSE) must not hold a call
// past its context's deadline: the poller's lease relies on it to step down
// in time. Without ContextTimeoutEnabled the call would wait for go-redis's
// ReadTimeout (3 s).
func TestRedisCallEndsAtContextDeadline(t *testing.T) {
	rs := testredis.Start(t)
	rdb, err := connect.Redis(connect.RedisOptions{Addr: rs.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil { // the connection exists before the pause
		t.Fatal(err)
	}
	if err := rs.Client(t).Do(ctx, "CLIENT", "PAUSE", "8000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}

	const deadline = 200 * time.Millisecond
	cctx, ccancel := context.WithTimeout(context.Background(), deadline)
	defer ccancel()
	start := time.Now()
	err = rdb.Get(cctx, "k").Err()
	took := time.Since(start)
	if err == nil {
		t.Fatal("GET on a paused Redis succeeded")
	}
	// Generous margin for a loaded machine, still well under the 3 s ReadTimeout.
	if took > 2*time.Second {
		t.Fatalf("GET returned after %v (err %v), want about %v", took, err, deadline)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
