package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

func (e *env) publishCmd(command, id, body string) *jetstream.PubAck {
	e.t.Helper()
	m := nats.NewMsg(e.c.CommandSubject(command))
	m.Data = []byte(body)
	if id != "" {
		m.Header.Set(HeaderMsgID, id)
	}
	ack, err := e.js.PublishMsg(context.Background(), m)
	if err != nil {
		e.t.Fatalf("publish %s: %v", command, err)
	}
	return ack
}

// lastMsg reads the last message on subject (nil when none).
func (e *env) lastMsg(stream, subject string) *jetstream.RawStreamMsg {
	m, err := e.tryLastMsg(context.Background(), stream, subject)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) tryLastMsg(ctx context.Context, stream, subject string) (*jetstream.RawStreamMsg, error) {
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// waitMsg waits for the last message on subject. A failed read is asked
// again, each try bounded to a second: on a cluster a stream may be
// electing a leader while the test waits, which is not the test's failure.
func (e *env) waitMsg(what, stream, subject string) *jetstream.RawStreamMsg {
	e.t.Helper()
	var m *jetstream.RawStreamMsg
	var lastErr error
	testwait.For(e.t, 20*time.Second, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		if m, err = e.tryLastMsg(ctx, stream, subject); err != nil && (lastErr == nil || err.Error() != lastErr.Error()) {
			e.t.Logf("waiting for %s: %v", what, err)
		}
		lastErr = err
		return m != nil
	})
	return m
}

func (e *env) waitResult(id string) *jetstream.RawStreamMsg {
	e.t.Helper()
	m := e.waitResultUnchecked(id)
	status := 200
	if code := m.Header.Get(HeaderErrorCode); code != "" {
		status, _ = strconv.Atoi(code)
	}
	schemacheck.CheckOutcome(e.t, status, m.Data)
	return m
}

// waitResultUnchecked is waitResult for a command a test added to the
// table, which has no schema in schemas/.
func (e *env) waitResultUnchecked(id string) *jetstream.RawStreamMsg {
	e.t.Helper()
	return e.waitMsg("result of "+id, e.names.Results, e.c.ResultSubject(id))
}

func (e *env) waitDLQ(subject string) *jetstream.RawStreamMsg {
	e.t.Helper()
	return e.waitMsg("dead letter on "+subject, e.names.DLQ, subject)
}

// waitSettled waits until the durable consumer has nothing pending or in flight.
func (e *env) waitSettled(d time.Duration) {
	e.t.Helper()
	testwait.For(e.t, d, "durable consumer to settle", func() bool {
		ci, err := e.js.Consumer(context.Background(), e.names.Commands, DefaultDurable)
		if err != nil {
			return false
		}
		info, err := ci.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

func TestDurableCreateUpdateDelete(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*"}})
	e.publishCmd(CmdCreate, "c-1", `{"connection":"`+conn+`","email":"d1@example.com","password":"Secret-123!"}`)
	res := e.waitResult("c-1")
	if res.Header.Get(HeaderErrorCode) != "" {
		t.Fatalf("create failed: %s %s", res.Header, res.Data)
	}
	var u map[string]any
	_ = json.Unmarshal(res.Data, &u)
	id, _ := u["user_id"].(string)
	if id == "" || res.Header.Get(HeaderMsgID) != "c-1" {
		t.Fatalf("result: %v %s", res.Header, res.Data)
	}
	e.publishCmd(CmdUpdate, "u-1", `{"user_id":"`+id+`","name":"Durable"}`)
	if r := e.waitResult("u-1"); !strings.Contains(string(r.Data), `"name":"Durable"`) {
		t.Fatalf("update result: %s", r.Data)
	}
	e.publishCmd(CmdAPICall, "a-1", `{"method":"GET","path":"/users/`+strings.ReplaceAll(id, "|", "%7C")+`"}`)
	if r := e.waitResult("a-1"); !strings.Contains(string(r.Data), `"status":200`) {
		t.Fatalf("api.call result: %s", r.Data)
	}
	e.publishCmd(CmdDelete, "d-1", `{"user_id":"`+id+`"}`)
	if r := e.waitResult("d-1"); string(r.Data) != `{"deleted":true,"user_id":"`+id+`"}` {
		t.Fatalf("delete result: %s", r.Data)
	}
	// A permanent failure: outcome with the error headers, and a dead letter.
	e.publishCmd(CmdUpdate, "u-404", `{"user_id":"auth0|nobody","name":"x"}`)
	r := e.waitResult("u-404")
	if r.Header.Get(HeaderErrorCode) != "404" || !strings.Contains(string(r.Data), `"code":"not_found"`) {
		t.Fatalf("404 outcome: %v %s", r.Header, r.Data)
	}
	dl := e.waitDLQ("auth0.dlq.cmd.users.update")
	if dl.Header.Get(HeaderDlqSubject) != "auth0.cmd.users.update" || dl.Header.Get(HeaderDlqDeliveries) != "1" ||
		dl.Header.Get(HeaderMsgID) != "u-404" || dl.Header.Get(HeaderDlqReason) == "" || string(dl.Data) != `{"user_id":"auth0|nobody","name":"x"}` {
		t.Fatalf("dead letter: %v %s", dl.Header, dl.Data)
	}
	// Stored outcomes are in Redis for 24h.
	ttl, err := e.rdb.TTL(context.Background(), e.keys.Cmd("c-1")).Result()
	if err != nil || ttl < 23*time.Hour {
		t.Fatalf("outcome TTL %v %v", ttl, err)
	}
	e.waitSettled(10 * time.Second)
}

func TestDurableInvalidCommandsDeadLettered(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.em.Emulator.ResetRequests()
	e.publishCmd(CmdCreate, "", `{"connection":"`+conn+`","email":"noid@example.com","password":"Secret-123!"}`)
	dl := e.waitDLQ("auth0.dlq.cmd.users.create")
	if !strings.Contains(dl.Header.Get(HeaderDlqReason), "Nats-Msg-Id") || dl.Header.Get(HeaderDlqSubject) != "auth0.cmd.users.create" {
		t.Fatalf("dead letter without a reason: %v", dl.Header)
	}
	e.publishCmd(CmdCreate, "bad id with spaces", `{"connection":"c"}`)
	testwait.For(t, 10*time.Second, "second dead letter", func() bool { return streamMsgs(t, e, e.names.DLQ) == 2 })

	e.publishCmd(CmdCreate, "inv-1", `{"connection":"c","shoe_size":44}`)
	r := e.waitResult("inv-1")
	if r.Header.Get(HeaderErrorCode) != "400" || !strings.Contains(string(r.Data), `unknown field \"shoe_size\"`) {
		t.Fatalf("invalid body outcome: %v %s", r.Header, r.Data)
	}
	testwait.For(t, 10*time.Second, "third dead letter", func() bool { return streamMsgs(t, e, e.names.DLQ) == 3 })
	dl = e.lastMsg(e.names.DLQ, "auth0.dlq.cmd.users.create")
	if !strings.Contains(dl.Header.Get(HeaderDlqReason), "shoe_size") {
		t.Fatalf("reason does not name the field: %v", dl.Header)
	}
	// An unknown command subject.
	m := nats.NewMsg("auth0.cmd.users.get")
	m.Header.Set(HeaderMsgID, "get-1")
	m.Data = []byte(`{"user_id":"x"}`)
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	dl = e.waitDLQ("auth0.dlq.cmd.users.get")
	if !strings.Contains(dl.Header.Get(HeaderDlqReason), "unknown command") {
		t.Fatalf("unknown command: %v", dl.Header)
	}
	e.waitSettled(10 * time.Second)
	if reqs := e.em.Emulator.Requests(); len(reqs) != 0 {
		t.Fatalf("invalid commands reached Auth0: %+v", reqs)
	}
	if got := e.m.DLQ.WithLabelValues(CmdCreate); got == nil {
		t.Fatal("no DLQ metric")
	}
}

func TestDurableMaxDeliverDeadLetters(t *testing.T) {
	e := newEnv(t, envConfig{
		emu:  emulator.Config{Knobs: emulator.Knobs{FaultRate: 1}},
		opts: func(o *Options) { o.MaxDeliver = 3 },
	})
	e.publishCmd(CmdDelete, "del-max", `{"user_id":"auth0|x"}`)
	dl := e.waitDLQ("auth0.dlq.cmd.users.delete")
	if dl.Header.Get(HeaderDlqDeliveries) != "3" || !strings.Contains(dl.Header.Get(HeaderDlqReason), "502") && !strings.Contains(dl.Header.Get(HeaderDlqReason), "503") {
		t.Fatalf("dead letter: %v", dl.Header)
	}
	e.waitSettled(10 * time.Second)
	// Transient failures store no outcome and publish none.
	if n := resultsCount(t, e); n != 0 {
		t.Fatalf("%d results for a transient failure", n)
	}
	if n, _ := e.rdb.Exists(context.Background(), e.keys.Cmd("del-max")).Result(); n != 0 {
		t.Fatal("transient failure stored as an outcome")
	}
}

// A delivery past COMMAND_MAX_DELIVER (a crash during the last attempt) is
// dead-lettered without executing.
func TestDurablePastMaxDeliverNotExecuted(t *testing.T) {
	var calls atomic.Int32
	e := newEnv(t, envConfig{
		opts: func(o *Options) { o.MaxDeliver = 1 },
		wrap: func(c Client) Client {
			return &hookClient{Client: c, before: func() { calls.Add(1) }, after: func() {}}
		},
		noStart: true,
	})
	// Deliver once without settling (a worker that "crashed"), then start.
	e.start()
	e.stop()
	cons, err := e.js.Consumer(context.Background(), e.names.Commands, DefaultDurable)
	if err != nil {
		t.Fatal(err)
	}
	e.publishCmd(CmdDelete, "crashed", `{"user_id":"auth0|x"}`)
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_ = msg.Nak() // the crashed attempt: delivery 1 used up
	c2, err := New(e.c.o)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c2
	e.start()
	dl := e.waitDLQ("auth0.dlq.cmd.users.delete")
	// At least the crashed delivery and this one; a pull the stopped worker
	// left on the server may have taken one more before it expired.
	if n, _ := strconv.Atoi(dl.Header.Get(HeaderDlqDeliveries)); n < 2 || calls.Load() != 0 {
		t.Fatalf("dead letter %v after %d Auth0 calls", dl.Header, calls.Load())
	}
}

func TestDurableStoredOutcomeRepublished(t *testing.T) {
	e := newEnv(t, envConfig{})
	stored := Outcome{Status: 200, Body: json.RawMessage(`{"user_id":"auth0|stored","created_at":"2026-01-01T00:00:00.000Z"}`)}
	if err := e.c.st.put(context.Background(), e.c.cmdRef("already-done"), stored); err != nil {
		t.Fatal(err)
	}
	e.em.Emulator.ResetRequests()
	e.publishCmd(CmdCreate, "already-done", `{"connection":"`+conn+`","email":"x@example.com","password":"Secret-123!"}`)
	r := e.waitResult("already-done")
	if string(r.Data) != `{"user_id":"auth0|stored","created_at":"2026-01-01T00:00:00.000Z"}` {
		t.Fatalf("re-published %s", r.Data)
	}
	e.waitSettled(10 * time.Second)
	if len(e.em.Emulator.Requests()) != 0 || e.em.Emulator.UserCount() != 0 {
		t.Fatal("a command with a stored outcome was executed again")
	}
}

// lostReplyClient performs the first create of each body for real and then
// reports the outcome as unknown, as if the response had been lost.
type lostReplyClient struct {
	Client
	mu   sync.Mutex
	seen map[string]bool
}

func (l *lostReplyClient) CreateUser(ctx context.Context, body json.RawMessage) (*auth0.User, error) {
	u, err := l.Client.CreateUser(ctx, body)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && !l.seen[string(body)] {
		l.seen[string(body)] = true
		return nil, fmt.Errorf("%w: connection reset after the request was sent", auth0.ErrAmbiguous)
	}
	return u, err
}

func TestDurableLostCreateReplyIsSuccess(t *testing.T) {
	e := newEnv(t, envConfig{wrap: func(c Client) Client { return &lostReplyClient{Client: c, seen: map[string]bool{}} }})
	e.publishCmd(CmdCreate, "lost-1", `{"connection":"`+conn+`","email":"Lost@Example.com","password":"Secret-123!"}`)
	e.publishCmd(CmdCreate, "lost-2", `{"connection":"`+conn+`","user_id":"chosen42","email":"chosen@example.com","password":"Secret-123!"}`)
	for _, id := range []string{"lost-1", "lost-2"} {
		r := e.waitResult(id)
		if r.Header.Get(HeaderErrorCode) != "" || !strings.Contains(string(r.Data), `"user_id":"auth0|`) {
			t.Fatalf("%s: want success, got %v %s", id, r.Header, r.Data)
		}
	}
	if n := e.em.Emulator.UserCount(); n != 2 {
		t.Fatalf("%d users, want 2", n)
	}
	e.waitSettled(10 * time.Second)
	if n := streamMsgs(t, e, e.names.DLQ); n != 0 {
		t.Fatalf("%d dead letters", n)
	}
	// A genuine conflict on a first delivery is still a 409.
	e.publishCmd(CmdCreate, "dup-first", `{"connection":"`+conn+`","email":"lost@example.com","password":"Secret-123!"}`)
	if r := e.waitResult("dup-first"); r.Header.Get(HeaderErrorCode) != "409" {
		t.Fatalf("want 409 for a real duplicate, got %v %s", r.Header, r.Data)
	}
}

// TestDurableExactlyOnce: creates with ids against 20% injected 503s and a
// 20 req/s limit, COMMAND_MAX_DELIVER=10. CONSUMER_DURABLE_N overrides the
// count (default 500).
func TestDurableExactlyOnce(t *testing.T) {
	n := 500
	if s := os.Getenv("CONSUMER_DURABLE_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(t, envConfig{
		emu:  emulator.Config{Knobs: emulator.Knobs{FaultRate: 0.2, RateLimit: 20, RateBurst: 20}},
		opts: func(o *Options) { o.MaxDeliver = 10; o.Concurrency = 8 },
	})
	start := time.Now()
	for i := 0; i < n; i++ {
		e.publishCmd(CmdCreate, fmt.Sprintf("eo-%04d", i), fmt.Sprintf(`{"connection":"%s","email":"eo%04d@example.com","password":"Secret-123!"}`, conn, i))
	}
	testwait.For(t, 3*time.Minute, "all outcomes", func() bool { return resultsCount(t, e) >= uint64(n) })
	e.waitSettled(30 * time.Second)
	t.Logf("%d creates settled in %v", n, time.Since(start))
	if got := e.em.Emulator.UserCount(); got != n {
		t.Fatalf("%d users, want %d", got, n)
	}
	if got := resultsCount(t, e); got != uint64(n) {
		t.Fatalf("%d results, want %d", got, n)
	}
	for i := 0; i < n; i++ {
		r := e.lastMsg(e.names.Results, e.c.ResultSubject(fmt.Sprintf("eo-%04d", i)))
		if r == nil || r.Header.Get(HeaderErrorCode) != "" || !strings.Contains(string(r.Data), fmt.Sprintf("eo%04d@example.com", i)) {
			t.Fatalf("outcome of eo-%04d: %v", i, r)
		}
	}
	if dl := streamMsgs(t, e, e.names.DLQ); dl != 0 {
		t.Fatalf("%d dead letters", dl)
	}
	// The same ids again: JetStream drops them as duplicates; nothing is created.
	for i := 0; i < n; i++ {
		ack := e.publishCmd(CmdCreate, fmt.Sprintf("eo-%04d", i), fmt.Sprintf(`{"connection":"%s","email":"eo%04d@example.com","password":"Secret-123!"}`, conn, i))
		if !ack.Duplicate {
			t.Fatalf("eo-%04d accepted again", i)
		}
	}
	e.waitSettled(10 * time.Second)
	if got := e.em.Emulator.UserCount(); got != n {
		t.Fatalf("%d users after repeating the ids, want %d", got, n)
	}
}

// Redis down while durable commands arrive: the worker holds the messages
// and retries instead of burning deliveries; once Redis is back every
// command completes once and nothing is dead-lettered.
func TestDurableRedisOutage(t *testing.T) {
	e := newEnv(t, envConfig{opts: func(o *Options) { o.MaxDeliver = 2 }})
	e.rsrv.Stop()
	for i := 0; i < 3; i++ {
		e.publishCmd(CmdCreate, fmt.Sprintf("ro-%d", i), fmt.Sprintf(`{"connection":"%s","email":"ro%d@example.com","password":"Secret-123!"}`, conn, i))
	}
	testwait.For(t, 10*time.Second, "commands held by the worker", func() bool {
		ci, err := e.js.Consumer(context.Background(), e.names.Commands, DefaultDurable)
		if err != nil {
			return false
		}
		info, err := ci.Info(context.Background())
		return err == nil && info.NumAckPending == 3
	})
	// Hold them for longer than AckWait × MaxDeliver would allow if each
	// Redis failure were a delivery.
	hold := time.Now().Add(2 * e.c.o.AckWait)
	testwait.For(t, 3*e.c.o.AckWait, "the hold period", func() bool { return time.Now().After(hold) })
	e.rsrv.Start()
	for i := 0; i < 3; i++ {
		if r := e.waitResult(fmt.Sprintf("ro-%d", i)); r.Header.Get(HeaderErrorCode) != "" {
			t.Fatalf("ro-%d: %v %s", i, r.Header, r.Data)
		}
	}
	e.waitSettled(10 * time.Second)
	if n := streamMsgs(t, e, e.names.DLQ); n != 0 {
		t.Fatalf("%d dead letters after a Redis outage", n)
	}
	if n := e.em.Emulator.UserCount(); n != 3 {
		t.Fatalf("%d users, want 3", n)
	}
}

// A delivery that finds the in-flight lock held (a slow first attempt
// elsewhere) waits; when that attempt stores its outcome and releases the
// lock, the waiting delivery re-publishes the outcome without executing.
func TestDurableRacingDeliveryWaitsForLock(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	other := &store{rdb: e.rdb, token: "other-instance"}
	ref := e.c.cmdRef("race-1")
	lockVal, ok, err := other.lock(ctx, ref, time.Minute)
	if err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	e.em.Emulator.ResetRequests()
	e.publishCmd(CmdDelete, "race-1", `{"user_id":"auth0|x"}`)
	testwait.For(t, 5*time.Second, "the delivery to wait on the lock", func() bool { return len(e.c.sem) == 0 && ackPending(t, e) == 1 })
	// It keeps waiting (InProgress) past AckWait without executing.
	until := time.Now().Add(e.c.o.AckWait + time.Second)
	testwait.For(t, 2*e.c.o.AckWait, "a period longer than AckWait", func() bool { return time.Now().After(until) })
	if len(e.em.Emulator.Requests()) != 0 || resultsCount(t, e) != 0 {
		t.Fatal("executed while another attempt held the lock")
	}
	if err := other.put(ctx, ref, Outcome{Status: 200, Body: json.RawMessage(`{"deleted":true,"user_id":"auth0|x"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := other.release(ctx, ref, lockVal); err != nil {
		t.Fatal(err)
	}
	if r := e.waitResult("race-1"); string(r.Data) != `{"deleted":true,"user_id":"auth0|x"}` {
		t.Fatalf("result %s", r.Data)
	}
	e.waitSettled(10 * time.Second)
	if len(e.em.Emulator.Requests()) != 0 {
		t.Fatal("executed after the other attempt's outcome was stored")
	}
}

func ackPending(t testing.TB, e *env) int {
	ci, err := e.js.Consumer(context.Background(), e.names.Commands, DefaultDurable)
	if err != nil {
		return -1
	}
	info, err := ci.Info(context.Background())
	if err != nil {
		return -1
	}
	return info.NumAckPending
}

func TestRetryDelay(t *testing.T) {
	c := &Consumer{o: Options{RetryBase: time.Second, RetryMax: 30 * time.Second}}
	at := time.Now().Add(4 * time.Second)
	if d := c.retryDelay(&Error{RetryAt: at}, 1); d < 3500*time.Millisecond || d > 4500*time.Millisecond {
		t.Fatalf("with Auth0's reset 4s away: %v", d)
	}
	for n, want := range map[int]time.Duration{1: time.Second, 3: 4 * time.Second, 20: 30 * time.Second} {
		if d := c.retryDelay(&Error{}, n); d < want*9/10 || d > want*11/10 {
			t.Fatalf("delivery %d: %v, want about %v", n, d, want)
		}
	}
}
