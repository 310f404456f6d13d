package consumer

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/publisher"
	"github.com/auth0-worker/auth0-worker/schemas"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

// envConfig shapes one test environment: a real embedded NATS, a real
// redis-server and the emulator, with a Consumer running on them.
type envConfig struct {
	emu          emulator.Config
	apiCallAllow []string
	maxRetries   int // client retries; default 1 (keeps failure tests fast)
	wrap         func(Client) Client
	opts         func(*Options)
	noStart      bool
	natsOpts     []testnats.Option
	tp           trace.TracerProvider // traces of the client and the consumer; nil = off
}

type env struct {
	t      testing.TB
	em     *emulatortest.Server
	nsrv   *testkit.NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	rdb    *redis.Client
	rsrv   *testkit.Redis
	client *auth0.Client
	c      *Consumer
	m      *metrics.Metrics
	names  publisher.Names
	keys   rediskeys.Keys
	cancel context.CancelFunc
	done   chan error
}

// testLogger is the kit's (TESTKIT_LOG=1 shows the logs).
var testLogger = testkit.Logger

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t}
	e.em = testkit.Emulator(t, cfg.emu)
	e.nsrv = testkit.StartNATS(t, cfg.natsOpts...)
	e.nc, e.js = e.nsrv.NC, e.nsrv.JS
	e.rsrv = testkit.StartRedis(t)
	e.rdb = e.rsrv.RDB
	if cfg.maxRetries == 0 {
		cfg.maxRetries = 1
	}
	e.client = testkit.Auth0Client(t, e.em, func(c *auth0.Config) {
		c.MaxRetries, c.APICallAllow, c.TracerProvider = cfg.maxRetries, cfg.apiCallAllow, cfg.tp
	})
	var client Client = e.client
	if cfg.wrap != nil {
		client = cfg.wrap(client)
	}
	e.names, e.keys = testkit.Names, testkit.Keys(e.em)
	e.m = metrics.New()
	o := Options{
		Client: client, NC: e.nc, JS: e.js, Redis: e.rdb, Keys: e.keys, Names: e.names,
		BaseURL: e.em.URL, Concurrency: 4, Timeout: 10 * time.Second, AckWait: 3 * time.Second,
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, ShutdownGrace: 2 * time.Second,
		Metrics: e.m, Logger: testLogger(), Version: "1.0.0", TracerProvider: cfg.tp,
	}
	if cfg.opts != nil {
		cfg.opts(&o)
	}
	var err error
	e.c, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.noStart {
		e.start()
	}
	return e
}

// start runs the consumer until the test ends and waits until it is ready.
func (e *env) start() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- e.c.Run(ctx) }()
	select {
	case <-e.c.Ready():
	case err := <-e.done:
		e.t.Fatalf("consumer Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		e.t.Fatal("consumer not ready within 10s")
	}
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		e.t.Errorf("Run did not return within 15s of cancel")
	}
	e.cancel = nil
}

// reply is a request-reply answer.
type reply struct {
	status int // 200 or Nats-Service-Error-Code
	errMsg string
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// errorBody returns the error object of an error reply.
func (r reply) errorBody(t testing.TB) map[string]any {
	t.Helper()
	m := r.json(t)
	eo, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	return eo
}

func (e *env) request(command string, body string, hdr map[string]string) reply {
	e.t.Helper()
	r, err := e.tryRequest(command, body, hdr, 20*time.Second)
	if err != nil {
		e.t.Fatalf("request %s: %v", command, err)
	}
	return r
}

// tryRequest is request for goroutines other than the test's.
func (e *env) tryRequest(command string, body string, hdr map[string]string, timeout time.Duration) (reply, error) {
	m := nats.NewMsg(e.c.ServiceSubject(command))
	m.Data = []byte(body)
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	resp, err := e.nc.RequestMsg(m, timeout)
	if err != nil {
		return reply{}, err
	}
	r := toReply(e.t, resp)
	if slices.Contains(schemas.Names(), schemas.Reply(command)) { // not a command added by a test
		schemacheck.CheckReply(e.t, command, r.status, r.body)
	}
	return r, nil
}

func toReply(t testing.TB, resp *nats.Msg) reply {
	r := reply{status: 200, body: resp.Data}
	if code := resp.Header.Get(HeaderErrorCode); code != "" {
		var n int
		if err := json.Unmarshal([]byte(code), &n); err != nil {
			t.Fatalf("bad %s %q", HeaderErrorCode, code)
		}
		r.status = n
		r.errMsg = resp.Header.Get(HeaderError)
	}
	return r
}

// hookClient runs before/after around GetUser and DeleteUser.
type hookClient struct {
	Client
	before, after func()
}

func (h *hookClient) GetUser(ctx context.Context, id string) (*auth0.User, error) {
	h.before()
	defer h.after()
	return h.Client.GetUser(ctx, id)
}

func (h *hookClient) DeleteUser(ctx context.Context, id string) error {
	h.before()
	defer h.after()
	return h.Client.DeleteUser(ctx, id)
}

func jetstreamMsgID(id string) jetstream.PublishOpt { return jetstream.WithMsgID(id) }

func streamMsgs(t testing.TB, e *env, name string) uint64 {
	t.Helper()
	return testkit.State(t, e.js, name).Msgs
}

func resultsCount(t testing.TB, e *env) uint64 { return streamMsgs(t, e, e.names.Results) }
