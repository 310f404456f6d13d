package testkit

import (
	"net/url"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// NATS is an embedded NATS server with the test's own connection (it
// reconnects forever, so it survives Restart) and JetStream context.
type NATS struct {
	*testnats.Server
	NC *nats.Conn
	JS jetstream.JetStream
}

// StartNATS starts a JetStream server on a random port (testnats.Start).
func StartNATS(t testing.TB, opts ...testnats.Option) *NATS {
	t.Helper()
	return ConnectNATS(t, testnats.Start(t, opts...))
}

// ConnectNATS connects the test to srv with copts (e.g. credentials).
func ConnectNATS(t testing.TB, srv *testnats.Server, copts ...nats.Option) *NATS {
	t.Helper()
	n := &NATS{Server: srv, NC: srv.Connect(t, copts...)}
	n.JS = n.JetStream(t)
	return n
}

// JetStream is a JetStream context on the test's connection with opts.
func (n *NATS) JetStream(t testing.TB, opts ...jetstream.JetStreamOpt) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(n.NC, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Names are the subjects and streams of the default prefix "auth0".
var Names = publisher.NamesFor("auth0")

// EnsureStream creates (or checks) one of the worker's streams on js, e.g.
// Names.UsersStream(publisher.StreamOptions{}).
func EnsureStream(t testing.TB, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	s, err := publisher.EnsureStream(Context(t), js, cfg, nil)
	if err != nil {
		t.Fatalf("stream %s: %v", cfg.Name, err)
	}
	return s
}

// Redis is a real redis-server with a client of it.
type Redis struct {
	*testredis.Server
	RDB *redis.Client
}

// StartRedis starts redis-server with default options (testredis.Start).
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return StartRedisWith(t, testredis.Options{})
}

// StartRedisWith starts redis-server with opts (testredis.StartWith).
func StartRedisWith(t testing.TB, opts testredis.Options) *Redis {
	t.Helper()
	s := testredis.StartWith(t, opts)
	return &Redis{Server: s, RDB: s.Client(t)}
}

// Emulator starts the Auth0 emulator for cfg on a random port; its
// ClientID and ClientSecret are the first configured client's.
func Emulator(t testing.TB, cfg emulator.Config, opts ...emulatortest.ServerOption) *emulatortest.Server {
	t.Helper()
	return emulatortest.NewServer(t, cfg, opts...)
}

// Auth0Client is a client of em with its first client's credentials and
// Logger; mod adjusts the configuration first (nil: none).
func Auth0Client(t testing.TB, em *emulatortest.Server, mod func(*auth0.Config)) *auth0.Client {
	t.Helper()
	cfg := auth0.Config{BaseURL: em.URL, ClientID: em.ClientID, ClientSecret: em.ClientSecret, Logger: Logger()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := auth0.New(cfg)
	if err != nil {
		t.Fatalf("auth0.New: %v", err)
	}
	return c
}

// Keys are the worker's Redis keys for em's tenant (its host:port).
func Keys(em *emulatortest.Server) rediskeys.Keys {
	u, _ := url.Parse(em.URL)
	return rediskeys.Keys{Prefix: limits.KeyPrefix, Tenant: u.Host}
}
