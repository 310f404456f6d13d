package workerclient_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/consumer"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/poller"
	"github.com/auth0-worker/auth0-worker/publisher"
	"github.com/auth0-worker/auth0-worker/workerclient"
)

const conn = "Username-Password-Authentication"

// clock is the emulator's clock; freezing it stops its rate-limit bucket
// from refilling, so a drained bucket answers 429 to every retry.
type clock struct {
	mu     sync.Mutex
	frozen time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now()
}

func (c *clock) freeze(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = time.Time{}
	if on {
		c.frozen = time.Now()
	}
}

// worker is a real worker on real parts, wired as cmd/internal/workercmd
// wires it: the emulator, an embedded NATS server, a redis-server, the
// streams, the consumer (both transports) and the poller (events source).
type worker struct {
	em    *emulatortest.Server
	clock *clock
	nc    *nats.Conn
	js    jetstream.JetStream
	c     *workerclient.Client
}

// workerOpts changes the worker of one test.
type workerOpts struct {
	nats     []testnats.Option
	consumer func(*consumer.Options)
}

func startWorker(t *testing.T) *worker { return startWorkerWith(t, workerOpts{}) }

func startWorkerWith(t *testing.T, wo workerOpts) *worker {
	t.Helper()
	w := &worker{clock: &clock{}}
	w.em = emulatortest.NewServer(t, emulator.Config{Now: w.clock.now})
	nsrv := testnats.Start(t, wo.nats...)
	rdb := testredis.Start(t).Client(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a0, err := auth0.New(auth0.Config{
		BaseURL: w.em.URL, ClientID: w.em.ClientID, ClientSecret: w.em.ClientSecret,
		MaxRetries: 1, APICallAllow: []string{"GET /users*", "PATCH /users/*"}, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.em.URL)
	names := publisher.NamesFor("auth0")
	keys := rediskeys.Keys{Prefix: "auth0w", Tenant: u.Host}
	m := metrics.New()
	w.nc = nsrv.Connect(t)
	po := publisher.Options{Names: names, Source: w.em.URL + "/", Logger: log}
	w.js, err = jetstream.New(w.nc, publisher.JetStreamOpts(po)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := publisher.EnsureAll(ctx, w.js, names, publisher.StreamOptions{}, log); err != nil {
		t.Fatal(err)
	}
	pub, err := publisher.New(w.js, po)
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Options{
		Searcher: a0, Events: a0, Publisher: pub, Dedupe: dedupe.NewRedis(rdb, keys, time.Hour),
		Redis: rdb, Keys: keys, Source: poller.SourceEvents, Start: pollstart.Start{Mode: pollstart.All}, ReconcileOff: true,
		Metrics: m, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	co := consumer.Options{
		Client: a0, NC: w.nc, JS: w.js, Redis: rdb, Keys: keys, Names: names,
		BaseURL: w.em.URL, Concurrency: 4, Timeout: 2 * time.Second, AckWait: 3 * time.Second,
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, ShutdownGrace: 2 * time.Second,
		Metrics: m, Logger: log, Version: "1.0.0",
	}
	if wo.consumer != nil {
		wo.consumer(&co)
	}
	c, err := consumer.New(co)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{c.Run, p.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("worker component: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	select {
	case <-c.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("consumer not ready within 20s")
	}
	// Ready means subscribed on w.nc; a flush makes the server know it
	// before another connection sends the first request.
	if err := w.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The client gets its own connection, as a separate service would.
	w.c, err = workerclient.New(nsrv.Connect(t), workerclient.WithTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
