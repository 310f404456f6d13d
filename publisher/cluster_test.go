package publisher_test

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// TestStreamLeaderLoss: on a three-node cluster with R3 streams, the
// AUTH0_USERS leader is killed while events are published one by one. No
// event is lost or stored twice, and the next event is acknowledged within
// 3s of the new leader's election (with only AckTimeout, the message lost
// with the old leader waited out its 10s).
func TestStreamLeaderLoss(t *testing.T) {
	c := testnats.StartCluster(t)
	nc := c.Connect(t)
	o := publisher.Options{Names: publisher.NamesFor("auth0"), Source: "https://tenant.eu.auth0.com/"}
	js, err := jetstream.New(nc, publisher.JetStreamOpts(o)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := publisher.EnsureAll(ctx(t), js, o.Names, publisher.StreamOptions{Replicas: 3}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	p, err := publisher.New(js, o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{nc: nc, js: js, names: o.Names}

	var mu sync.Mutex
	var acked []time.Time // ack time of event i
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				pubDone <- nil
				return
			default:
			}
			u := user(i, "2026-03-01T10:00:00.000Z")
			if r := p.PublishUsers(ctx(t), []auth0.User{u}); !r[0].Acked {
				pubDone <- r[0].Err
				return
			}
			mu.Lock()
			acked = append(acked, time.Now())
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitCount := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for count() < n {
			select {
			case err := <-pubDone:
				t.Fatalf("publishing stopped after %d events: %v", count(), err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d events acknowledged, want %d", count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount(20)
	old := c.StreamLeader(o.Names.Users)
	if old == nil {
		t.Fatal("no stream leader")
	}
	old.Shutdown()
	_, elected := c.WaitStreamLeader(t, o.Names.Users, old, 20*time.Second)
	waitCount(count() + 1)
	mu.Lock()
	var next time.Time
	for _, at := range acked {
		if at.After(elected) {
			next = at
			break
		}
	}
	mu.Unlock()
	gap := next.Sub(elected)
	t.Logf("new leader elected; next event acknowledged %v later", gap)
	if next.IsZero() || gap > 3*time.Second {
		t.Errorf("next event acknowledged %v after the new leader's election, want ≤ 3s", gap)
	}
	old.Restart()
	waitCount(count() + 20)
	close(stop)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	msgs := e.messages(t)
	ids := map[string]bool{}
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if ids[id] {
			t.Fatalf("event %s stored twice", id)
		}
		ids[id] = true
	}
	if len(msgs) != count() {
		t.Fatalf("%d events stored, %d acknowledged", len(msgs), count())
	}
}

// Two sources publishing the same events at once on a clustered stream: the
// second publish of an id still being stored gets 409 "duplicate message id
// is in process", which is retried, not a failure (before, the receiver
// answered such a batch 503).
func TestSameEventsFromTwoSourcesOnACluster(t *testing.T) {
	c := testnats.StartCluster(t)
	o := publisher.Options{Names: publisher.NamesFor("auth0"), Source: "https://tenant.eu.auth0.com/"}
	var pubs [2]*publisher.Publisher
	for i := range pubs {
		js, err := jetstream.New(c.Connect(t), publisher.JetStreamOpts(o)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := publisher.EnsureAll(ctx(t), js, o.Names, publisher.StreamOptions{Replicas: 3}, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if pubs[i], err = publisher.New(js, o); err != nil {
			t.Fatal(err)
		}
	}
	for round := 0; round < 20; round++ {
		users := make([]auth0.User, 50)
		for i := range users {
			users[i] = user(round*100+i, "2026-03-01T10:00:00.000Z")
		}
		var wg sync.WaitGroup
		results := make([][]publisher.Result, len(pubs))
		for i, p := range pubs {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = p.PublishUsers(ctx(t), users) }()
		}
		wg.Wait()
		for i := range results {
			for _, r := range results[i] {
				if !r.Acked {
					t.Fatalf("round %d, source %d: %s not acked: %v", round, i, r.EventID, r.Err)
				}
			}
		}
	}
}
