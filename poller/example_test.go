package poller_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/dedupe"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/poller"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// How cmd/ wires the trigger side (error handling shortened).
func Example() {
	ctx, stop := context.WithCancel(context.Background()) // signal.NotifyContext in main
	defer stop()
	client, _ := auth0.New(auth0.Config{BaseURL: "https://tenant.eu.auth0.com", ClientID: "id", ClientSecret: "secret"})
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	keys := rediskeys.Keys{Prefix: "auth0w", Tenant: "tenant.eu.auth0.com"}
	nc, _ := nats.Connect(nats.DefaultURL, nats.MaxReconnects(-1))
	po := publisher.Options{Names: publisher.NamesFor("auth0"), Source: "https://tenant.eu.auth0.com/"}
	js, _ := jetstream.New(nc, publisher.JetStreamOpts(po)...)
	_ = publisher.EnsureAll(ctx, js, po.Names, publisher.StreamOptions{}, nil)
	pub, _ := publisher.New(js, po)

	p, err := poller.New(poller.Options{
		Searcher: client, Events: client, Publisher: pub,
		Dedupe: dedupe.NewRedis(rdb, keys, 168*time.Hour),
		Redis:  rdb, Keys: keys,
		Source: "auto", Start: pollstart.Start{Mode: pollstart.Now}, // POLL_SOURCE, POLL_START; zero values take the defaults of internal/limits
		ReconcileInterval: 10 * time.Minute, // RECONCILE_INTERVAL=0 → ReconcileOff: true
		Metrics:           metrics.New(), Logger: slog.Default(),
	})
	if err != nil {
		return // errors.Is(err, poller.ErrInvalidOptions): exit 2
	}
	_ = p.Run(ctx) // until ctx ends; flushes the batch in flight, releases the lease
}
