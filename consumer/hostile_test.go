package consumer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Reproduction: `nats pub auth0.svc.users.get '{"user_id":"..."}' --reply
// auth0.users.created` wrote a raw user into AUTH0_USERS, and a reply
// subject $JS.API.STREAM.PURGE.AUTH0_USERS was executed and answered.
func TestReplySubjectUnderPrefixOrDollarRefused(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	if _, err := publisher.EnsureStream(ctx, e.js, e.names.UsersStream(publisher.StreamOptions{}), testLogger()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(ctx, "auth0.users.created", []byte(`{"keep":"me"}`)); err != nil {
		t.Fatal(err)
	}
	ids, err := e.em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "victim@example.com", NoEvent: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.em.Emulator.ResetRequests()
	body := []byte(`{"user_id":"` + ids[0] + `"}`)
	// (nats-server itself refuses a client's reply subject under $JS.API.)
	for _, reply := range []string{"auth0.users.created", "auth0.results.x", "auth0", "$KV.bucket.key"} {
		if err := e.nc.PublishRequest(e.c.ServiceSubject(CmdGet), reply, body); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 10*time.Second, "four refused requests counted", func() bool {
		return testutil.ToFloat64(e.m.Commands.WithLabelValues(CmdGet, "svc", OutcomeRefusedReply)) == 4
	})
	// A normal request after them is served, so they were handled before it.
	if r := e.request(CmdGet, string(body), nil); r.status != 200 {
		t.Fatalf("normal request: %d %s", r.status, r.body)
	}
	if n := streamMsgs(t, e, e.names.Users); n != 1 {
		t.Fatalf("%s holds %d messages, want the 1 seeded (nothing written, nothing purged)", e.names.Users, n)
	}
	if n := len(apiRequests(e)); n != 1 {
		t.Fatalf("%d requests reached Auth0, want 1 (the normal request only)", n)
	}
}

// apiRequests are the emulator's logged Management API requests (no token).
func apiRequests(e *env) []emulator.LoggedRequest {
	var out []emulator.LoggedRequest
	for _, r := range e.em.Emulator.Requests() {
		if strings.HasPrefix(r.Path, "/api/v2/") {
			out = append(out, r)
		}
	}
	return out
}

// wantCode checks status and code without printing a (possibly huge) body.
func wantCode(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || !strings.Contains(string(r.body[:min(len(r.body), 500)]), `"code":"`+code+`"`) {
		t.Fatalf("want %d %s, got %d: %.300s", status, code, r.status, r.body)
	}
}

// Reproduction: a result over 1 MB got no reply (request-reply) or blocked
// the worker forever (durable).
func TestReplySizeRule(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*", "PATCH /users/*"},
		natsOpts: []testnats.Option{func(o *server.Options) { o.MaxPayload = 1 << 20 }}})
	big := strings.Repeat("x", 1_100_000)
	ids, err := e.em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "big@example.com", NoEvent: true, Fields: map[string]any{"user_metadata": map[string]any{"blob": big}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	esc := strings.ReplaceAll(id, "|", "%7C")

	// Reads: 413 reply_too_large, saying how to narrow it.
	wantCode(t, e.request(CmdGet, `{"user_id":"`+id+`"}`, nil), 413, CodeReplyTooLarge)
	wantCode(t, e.request(CmdAPICall, `{"method":"GET","path":"/users/`+esc+`"}`, nil), 413, CodeReplyTooLarge)

	// A change Auth0 already made: the success, reduced, with the header.
	m := nats.NewMsg(e.c.ServiceSubject(CmdUpdate))
	m.Data = []byte(`{"user_id":"` + id + `","name":"Big One"}`)
	resp, err := e.nc.RequestMsg(m, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(HeaderErrorCode) != "" || resp.Header.Get(HeaderTruncated) != "true" || string(resp.Data) != `{"truncated":true,"user_id":"`+id+`"}` {
		t.Fatalf("update reply %v %s", resp.Header, resp.Data)
	}
	m = nats.NewMsg(e.c.ServiceSubject(CmdAPICall))
	m.Data = []byte(`{"method":"PATCH","path":"/users/` + esc + `","body":{"nickname":"big"}}`)
	if resp, err = e.nc.RequestMsg(m, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(HeaderTruncated) != "true" || string(resp.Data) != `{"status":200,"truncated":true}` {
		t.Fatalf("api.call PATCH reply %v %s", resp.Header, resp.Data)
	}

	// Durable: the outcome is published (truncated) and the command settles.
	e.publishCmd(CmdUpdate, "big-update", `{"user_id":"`+id+`","name":"Bigger"}`)
	res := e.waitResult("big-update")
	if res.Header.Get(HeaderTruncated) != "true" || string(res.Data) != `{"truncated":true,"user_id":"`+id+`"}` {
		t.Fatalf("durable result %v %s", res.Header, res.Data)
	}
	// A durable read too large (api.call GET): 413 outcome and a dead letter.
	e.publishCmd(CmdAPICall, "big-read", `{"method":"GET","path":"/users/`+esc+`"}`)
	res = e.waitResult("big-read")
	if res.Header.Get(HeaderErrorCode) != "413" || !strings.Contains(string(res.Data), CodeReplyTooLarge) {
		t.Fatalf("durable big read: %v %.300s", res.Header, res.Data)
	}
	e.waitDLQ("auth0.dlq.cmd.api.call")
	e.waitSettled(20 * time.Second)
}

// Reproduction: the same Idempotency-Key with another body or command
// returned the first outcome; a request-reply key equal to a future
// durable command id made that command never run.
func TestIdempotencyKeyBinding(t *testing.T) {
	e := newEnv(t, envConfig{})
	hdr := map[string]string{HeaderIdempotencyKey: "bind-1"}
	r := e.request(CmdCreate, `{"connection":"`+conn+`","email":"bind@example.com","password":"Secret-123!"}`, hdr)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["user_id"].(string)
	e.em.Emulator.ResetRequests()

	// Same command, same body in another member order and spacing: replay.
	again := e.request(CmdCreate, `{ "password":"Secret-123!", "email":"bind@example.com", "connection":"`+conn+`" }`, hdr)
	if again.status != 200 || string(again.body) != string(r.body) {
		t.Fatalf("replay: %d %s", again.status, again.body)
	}
	// Another body, another command: 409, nothing executed.
	wantError(t, e.request(CmdCreate, `{"connection":"`+conn+`","email":"other@example.com","password":"Secret-123!"}`, hdr), 409, CodeIdempotencyKeyReused)
	wantError(t, e.request(CmdDelete, `{"user_id":"`+id+`"}`, hdr), 409, CodeIdempotencyKeyReused)
	if n := len(apiRequests(e)); n != 0 {
		t.Fatalf("%d requests reached Auth0 for replays and reused keys", n)
	}

	// Separate key spaces: a durable command with id "bind-1" runs.
	e.publishCmd(CmdDelete, "bind-1", `{"user_id":"`+id+`"}`)
	res := e.waitResult("bind-1")
	if res.Header.Get(HeaderErrorCode) != "" || !strings.Contains(string(res.Data), `"deleted":true`) {
		t.Fatalf("durable bind-1: %v %s", res.Header, res.Data)
	}
	if _, ok := e.em.Emulator.UserJSON(id); ok {
		t.Fatal("the durable delete never ran: the Idempotency-Key pre-empted it")
	}
	// And the other way: a request-reply key equal to a durable id executes.
	e.em.Emulator.ResetRequests()
	r = e.request(CmdGet, `{"user_id":"`+id+`"}`, hdr)
	wantError(t, r, 409, CodeIdempotencyKeyReused) // bind-1 is the create's key
	r = e.request(CmdGet, `{"user_id":"`+id+`"}`, map[string]string{HeaderIdempotencyKey: "durable-only"})
	wantError(t, r, 404, CodeNotFound)
	if n := len(apiRequests(e)); n != 1 {
		t.Fatalf("%d requests reached Auth0, want 1", n)
	}
}

// Reproduction: a header value with \x01 became a 503 after 8 s; user_id
// "." and ".." were sent as dot segments; a 5,000-byte query went to Auth0;
// "..;" and encoded dot-like characters passed the api.call path check.
func TestHostileValuesRefusedBeforeAuth0(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*", "GET /clients*"}})
	e.em.Emulator.ResetRequests()
	start := time.Now()
	cases := []struct {
		cmd, body string
		hdr       map[string]string
	}{
		{CmdGet, `{"user_id":"auth0|1"}`, map[string]string{"X-Trace": "a\x01b"}},
		{CmdAPICall, `{"method":"GET","path":"/users","headers":{"X-Correlation-ID":"a\u0001b"}}`, nil},
		{CmdGet, `{"user_id":"."}`, nil},
		{CmdGet, `{"user_id":".."}`, nil},
		{CmdDelete, `{"user_id":".."}`, nil},
		{CmdUpdate, `{"user_id":"..","name":"x"}`, nil},
		{CmdGet, "{\"user_id\":\"auth0|\xff\xfe\"}", nil},
		{CmdGet, `{"user_id":"auth0|\ud800"}`, nil},
		{CmdGet, `{"user_id":"auth0|a\u0007b"}`, nil},
		{CmdSearch, `{"query":"` + strings.Repeat("a", 5000) + `"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/..;"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/..;/clients"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/%E2%80%A4%E2%80%A4/clients"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/%EF%BC%8E%EF%BC%8E/clients"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/x;y"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/%5C..%5Cclients"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/%zz"}`, nil},
		{CmdAPICall, `{"method":"GET","path":"/users/%01"}`, nil},
	}
	for _, c := range cases {
		r := e.request(c.cmd, c.body, c.hdr)
		if r.status != 400 || r.errorBody(t)["code"] != CodeInvalidCommand {
			t.Errorf("%s %.80q: %d %s, want 400 invalid_command", c.cmd, c.body, r.status, r.body)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refusals took %v", d)
	}
	if reqs := apiRequests(e); len(reqs) != 0 {
		t.Fatalf("%d requests reached Auth0, first %+v", len(reqs), reqs[0])
	}
	// Dots inside a segment and non-ASCII ids are fine, re-encoded.
	r := e.request(CmdAPICall, `{"method":"GET","path":"/users/samlp%7Cacme%7Cjane.doe@acme.com"}`, nil)
	if r.status != 200 || r.json(t)["status"] != float64(404) {
		t.Fatalf("dotted id: %d %s", r.status, r.body)
	}
	r = e.request(CmdAPICall, `{"method":"GET","path":"/users/auth0|jos\u00e9"}`, nil)
	if r.status != 200 {
		t.Fatalf("non-ASCII id: %d %s", r.status, r.body)
	}
	reqs := apiRequests(e)
	if len(reqs) != 2 || reqs[0].Path != "/api/v2/users/samlp%7Cacme%7Cjane.doe@acme.com" || reqs[1].Path != "/api/v2/users/auth0%7Cjos%C3%A9" {
		t.Fatalf("sent paths: %+v", reqs)
	}

	// The durable transport applies the same rules: 400 outcomes, nothing sent.
	m := nats.NewMsg(e.c.CommandSubject(CmdDelete))
	m.Header.Set(HeaderMsgID, "hostile-hdr")
	m.Header.Set("X-Trace", "a\x01b")
	m.Data = []byte(`{"user_id":"auth0|1"}`)
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	e.publishCmd(CmdDelete, "hostile-dots", `{"user_id":".."}`)
	for _, id := range []string{"hostile-hdr", "hostile-dots"} {
		if res := e.waitResult(id); res.Header.Get(HeaderErrorCode) != "400" {
			t.Fatalf("durable %s: %v %s", id, res.Header, res.Data)
		}
	}
	if reqs := apiRequests(e); len(reqs) != 2 {
		t.Fatalf("durable hostile values reached Auth0: %+v", reqs[2:])
	}
}

// errClient answers GetUser with a canned Auth0 error.
type errClient struct {
	Client
	body []byte
}

func (c *errClient) GetUser(context.Context, string) (*auth0.User, error) {
	return nil, &auth0.APIError{Status: 400, Body: c.body, Message: "bad"}
}

// Reproduction: unparsable or too-deep bodies and error bodies of other
// commands bypassed client_secret redaction.
func TestErrorBodiesRedactedFailClosed(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 200) + `{"client_secret":"s3cr3t-deep"}` + strings.Repeat(`}`, 200)
	for name, body := range map[string]string{
		"json":      `{"message":"x","nested":[{"Client_Secret":"s3cr3t-json"}]}`,
		"escaped":   `{"client\u005fsecret":"s3cr3t-esc"}`,
		"not json":  `oops client_secret=s3cr3t-text`,
		"too deep":  deep,
		"truncated": `{"client_secret":"s3cr3t-cut`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envConfig{wrap: func(c Client) Client { return &errClient{Client: c, body: []byte(body)} }})
			r := e.request(CmdGet, `{"user_id":"auth0|1"}`, nil)
			if r.status != 400 || strings.Contains(string(r.body), "s3cr3t") {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
}

// Reproduction: dead letters kept passwords in clear, at the top level and
// inside api.call bodies.
func TestDeadLettersHoldNoPasswords(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"POST /users"}})
	if _, err := e.em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "a@example.com", NoEvent: true}}); err != nil {
		t.Fatal(err)
	}
	// 409 from Auth0; a header api.call refuses (400); invalid JSON (400).
	e.publishCmd(CmdCreate, "dlq-pw-1", `{"connection":"`+conn+`","email":"a@example.com","password":"Pw-top-1!"}`)
	e.publishCmd(CmdAPICall, "dlq-pw-2", `{"method":"POST","path":"/users","headers":{"X-Bad":"1"},"body":{"connection":"c","password":"Pw-nested-2!","app_metadata":{"deep":{"client_secret":"Cs-3"}}}}`)
	e.publishCmd(CmdCreate, "dlq-pw-3", `{"connection":"x","password":"Pw-broken-4!"`)
	seen := map[string][]byte{}
	testwait.For(t, 20*time.Second, "three dead letters", func() bool {
		for _, sub := range []string{"auth0.dlq.cmd.users.create", "auth0.dlq.cmd.api.call"} {
			s, _ := e.js.Stream(context.Background(), e.names.DLQ)
			for seq := uint64(1); seq <= 10; seq++ {
				m, err := s.GetMsg(context.Background(), seq)
				if err == nil && m.Subject == sub {
					seen[m.Header.Get(HeaderMsgID)] = m.Data
				}
			}
		}
		return len(seen) == 3
	})
	for id, data := range seen {
		for _, secret := range []string{"Pw-top-1!", "Pw-nested-2!", "Cs-3", "Pw-broken-4!"} {
			if strings.Contains(string(data), secret) {
				t.Errorf("dead letter %s holds %q: %s", id, secret, data)
			}
		}
	}
	if !strings.Contains(string(seen["dlq-pw-1"]), `"email":"a@example.com"`) || string(seen["dlq-pw-3"]) != `"[redacted]"` {
		t.Errorf("dead letters: %s / %s", seen["dlq-pw-1"], seen["dlq-pw-3"])
	}
}

// A request not started within COMMAND_TIMEOUT of its arrival is answered
// 504 without reaching Auth0; a full queue is answered 503 overloaded at once.
func TestServiceQueueBoundAndDeadline(t *testing.T) {
	dc := &deadlineClient{}
	e := newEnv(t, envConfig{
		emu: emulator.Config{Knobs: emulator.Knobs{Latency: 1500 * time.Millisecond}},
		wrap: func(c Client) Client {
			dc.Client = c
			return dc
		},
		opts: func(o *Options) { o.Concurrency = 1; o.QueueSize = 3; o.Timeout = time.Second; o.DisableDurable = true },
	})
	// Warm the token so the first call's latency is only the request's.
	if err := e.client.EnsureToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	var overloadedIn time.Duration
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := e.tryRequest(CmdGet, fmt.Sprintf(`{"user_id":"auth0|q%d"}`, i), nil, 20*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			code := ""
			if r.status != 200 {
				code, _ = r.errorBody(t)["code"].(string)
			}
			mu.Lock()
			got[fmt.Sprint(r.status, " ", code)]++
			if code == CodeOverloaded {
				overloadedIn = max(overloadedIn, time.Since(start))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got["503 overloaded"] < 1 || got["504 timeout"] < 1 || got["503 overloaded"]+got["504 timeout"] != n {
		t.Fatalf("replies %v", got)
	}
	if overloadedIn > 3*time.Second {
		t.Fatalf("an overloaded reply took %v", overloadedIn)
	}
	// The first runs into its deadline; one picked up just before its own
	// deadline may start too; none starts after it.
	if c, late := dc.calls.Load(), dc.late.Load(); c < 1 || c > 2 || late != 0 {
		t.Fatalf("%d commands reached Auth0 (want 1 or 2), %d after their deadline", c, late)
	}
}

// deadlineClient counts GetUser calls and those started past their
// context's deadline (the request's stamp + COMMAND_TIMEOUT).
type deadlineClient struct {
	Client
	calls, late atomic.Int32
}

func (d *deadlineClient) GetUser(ctx context.Context, id string) (*auth0.User, error) {
	d.calls.Add(1)
	if dl, ok := ctx.Deadline(); !ok || time.Now().After(dl) {
		d.late.Add(1)
	}
	return d.Client.GetUser(ctx, id)
}

// auth0_worker_commands_dropped_total counts what nats.go drops.
func TestDropCounterCountsSlowConsumerDrops(t *testing.T) {
	e := newEnv(t, envConfig{noStart: true})
	nc := e.nsrv.Connect(t)
	d := newDropCounter(e.m.CommandsDropped)
	d.watch(nc, "auth0.svc.")
	release := make(chan struct{})
	sub, err := nc.Subscribe("auth0.svc.test", func(*nats.Msg) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	if err := sub.SetPendingLimits(2, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server knows the subscription
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := e.nc.Publish("auth0.svc.test", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var n int
	var counted, metric float64
	defer func() {
		if t.Failed() {
			t.Logf("dropped %d, counted %v, metric %v", n, counted, metric)
		}
	}()
	testwait.For(t, 10*time.Second, "every drop counted", func() bool {
		n, _ = sub.Dropped()
		counted, metric = d.total(), testutil.ToFloat64(e.m.CommandsDropped)
		return n >= 10 && counted == float64(n) && metric == float64(n)
	})
}

// Reproduction: an outcome that could not be published kept its worker
// "retrying while holding the message" forever. Now the publish is retried
// a bounded number of times, then the message is nak'ed with delay, and
// the worker takes other messages meanwhile.
func TestOutcomePublishBoundedThenNak(t *testing.T) {
	e := newEnv(t, envConfig{noStart: true, opts: func(o *Options) { o.Concurrency = 1; o.DisableService = true }})
	ctx := context.Background()
	// An operator-tuned results stream that takes no outcome at all.
	rs := e.names.ResultsStream(publisher.StreamOptions{})
	rs.MaxMsgSize = 16
	if _, err := e.js.CreateStream(ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.publishCmd(CmdDelete, "stuck-1", `{"user_id":"auth0|stuck1"}`)
	e.publishCmd(CmdDelete, "stuck-2", `{"user_id":"auth0|stuck2"}`)
	testwait.For(t, 20*time.Second, "both commands executed and redelivered", func() bool {
		ci, err := e.js.Consumer(ctx, e.names.Commands, DefaultDurable)
		if err != nil {
			return false
		}
		info, err := ci.Info(ctx)
		return err == nil && info.NumRedelivered >= 2 && len(apiRequests(e)) >= 2
	})
}

func TestRedactBodyFailsClosed(t *testing.T) {
	deep := strings.Repeat(`[`, 100) + `{"password":"p"}` + strings.Repeat(`]`, 100)
	for in, want := range map[string]string{
		`{"email":"a@example.com"}`:                             `{"email":"a@example.com"}`,
		`{"password":"p","a":[{"Client_Secret":"s"}],"n":1.50}`: `{"password":"[redacted]","a":[{"Client_Secret":"[redacted]"}],"n":1.50}`,
		`{"pass\u0077ord":"p"}`:                                 `{"password":"[redacted]"}`,
		`{"body":{"deep":{"password":{"x":1}}}}`:                `{"body":{"deep":{"password":"[redacted]"}}}`,
		`{"password":"p"`:                                       `"[redacted]"`,
		`not json, password=p`:                                  `"[redacted]"`,
		`"client_secret=abc"`:                                   `"[redacted]"`,
		`{"a":1} {"password":"p"}`:                              `"[redacted]"`,
		deep:                                                    `"[redacted]"`,
		`not json, no secret`:                                   `not json, no secret`,
	} {
		if got := string(redactBody([]byte(in), dlqSecrets)); got != want {
			t.Errorf("redactBody(%.60q) = %s, want %s", in, got, want)
		}
	}
}
