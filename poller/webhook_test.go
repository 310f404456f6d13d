package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

const hookToken = "hook-s3cret-token"

var allTypes = []string{"user.created", "user.updated", "user.deleted"}

// startReceiver runs a Poller whose only job here is the receiver (the pull
// source is search, never reached: the lease is held by no one else but
// search needs nothing from these tests).
func (r *rig) startReceiver(t testing.TB, wo WebhookOptions) (url string, m *metrics.Metrics) {
	url, m, _ = r.startReceiverP(t, wo)
	return url, m
}

func (r *rig) startReceiverP(t testing.TB, wo WebhookOptions) (url string, m *metrics.Metrics, p *Poller) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wo.Listener = ln
	if wo.BearerToken == "" && wo.BasicUser == "" {
		wo.BearerToken = hookToken
	}
	p, m = r.poller(Options{Source: "scripted-idle", Searcher: noSearch{}, Types: allTypes, Webhook: wo}, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String() + WebhookPath, m, p
}

func init() {
	// A pull source that does nothing: the receiver tests need no Auth0 side.
	Register(Registration{Name: "scripted-idle", Mode: Pull, Selectable: true, New: func(*Poller) (Source, error) {
		return SourceFunc(func(ctx context.Context, _ Sink) error { <-ctx.Done(); return nil }), nil
	}})
}

// cloudEvent is what an Auth0 event stream posts.
func cloudEvent(typ, userID, createdAt, updatedAt, extra string) string {
	obj := fmt.Sprintf(`{"user_id":%q,"created_at":%q,"updated_at":%q,"email":"%s@example.com"%s}`, userID, createdAt, updatedAt, strings.ReplaceAll(userID, "|", "-"), extra)
	return fmt.Sprintf(`{"specversion":"1.0","id":"evt_%s_%s","source":"urn:auth0:tenant.test","type":%q,"time":%q,"a0tenant":"tenant","a0stream":"est_1","data":{"object":%s}}`,
		typ, strings.ReplaceAll(userID, "|", "-"), typ, updatedAt, obj)
}

func post(t *testing.T, url, auth, ctype, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (r *rig) streamMsgs(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	info, err := r.stream.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := r.stream.GetMsg(ctxT(t), seq)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func (r *rig) dlqCount(t *testing.T) uint64 {
	t.Helper()
	s, err := r.js.Stream(ctxT(t), "AUTH0_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestReceiverAuthAndRoutes(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	url, m := r.startReceiver(t, WebhookOptions{})
	ev := cloudEvent("user.created", "auth0|a", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "")
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + hookToken + "x", "Basic " + hookToken, "Token " + hookToken} {
		if got := post(t, url, auth, "application/json", ev); got != 401 {
			t.Fatalf("Authorization %q: %d, want 401", auth, got)
		}
	}
	if got := post(t, strings.Replace(url, WebhookPath, "/other", 1), "Bearer "+hookToken, "application/json", ev); got != 404 {
		t.Fatalf("other path: %d", got)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if n := len(r.streamMsgs(t)); n != 0 {
		t.Fatalf("%d messages published without credentials", n)
	}
	if v := value(m.WebhookRequests.WithLabelValues("401")); v != 5 {
		t.Fatalf("webhook_requests_total{status=401} = %v", v)
	}
}

func TestReceiverPublishesEveryType(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	url, m := r.startReceiver(t, WebhookOptions{BasicUser: "auth0", BasicPassword: "pa:ss"})
	auth := "Basic " + basic("auth0", "pa:ss")
	const ca, ua, ua2 = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"
	batch := "[" + strings.Join([]string{
		cloudEvent("user.updated", "auth0|a", ca, ua2, ""), // out of order
		cloudEvent("user.created", "auth0|a", ca, ca, ""),
		cloudEvent("user.updated", "auth0|a", ca, ua, ""),
		cloudEvent("user.deleted", "auth0|a", ca, ua2, `,"deleted_at":"2026-01-04T00:00:00.000Z"`),
		cloudEvent("organization.created", "org|x", ca, ca, ""), // not wanted: counted, not published
	}, ",") + "]"
	if got := post(t, url, auth, "application/cloudevents+json; charset=utf-8", batch); got != 204 {
		t.Fatalf("batch: %d", got)
	}
	// Redelivered one by one: nothing new.
	if got := post(t, url, auth, "application/json", cloudEvent("user.updated", "auth0|a", ca, ua, "")); got != 204 {
		t.Fatalf("redelivery: %d", got)
	}
	msgs := r.streamMsgs(t)
	want := map[string][2]string{
		"updated@auth0|a@" + ua2:                   {"auth0.users.updated", ua2},
		"auth0|a@" + ca:                            {"auth0.users.created", ca},
		"updated@auth0|a@" + ua:                    {"auth0.users.updated", ua},
		"deleted@auth0|a@2026-01-04T00:00:00.000Z": {"auth0.users.deleted", "2026-01-04T00:00:00.000Z"},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for _, msg := range msgs {
		id := msg.Header.Get(jetstream.MsgIDHeader)
		var ce struct{ ID, Type, Time string }
		if err := json.Unmarshal(msg.Data, &ce); err != nil {
			t.Fatal(err)
		}
		w, ok := want[id]
		if !ok || msg.Subject != w[0] || ce.ID != id || ce.Time != w[1] || ce.Type != "com.auth0."+strings.Replace(w[0], "auth0.users.", "user.", 1) {
			t.Errorf("message %s on %s: %+v", id, msg.Subject, ce)
		}
	}
	if v := value(m.UsersPublished.WithLabelValues(SourceWebhook, "updated")); v != 2 {
		t.Fatalf("users_published_total{source=webhook,type=updated} = %v", v)
	}
	if v := value(m.SourceActive.WithLabelValues(SourceWebhook)); v != 1 {
		t.Fatalf("source_active{webhook} = %v", v)
	}
}

func basic(u, p string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestReceiverBadContentIsDeadLetteredOnce(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	url, _ := r.startReceiver(t, WebhookOptions{MaxBody: 64 << 10})
	auth := "Bearer " + hookToken
	for range 2 { // a retry of the same body is not dead-lettered again
		if got := post(t, url, auth, "application/json", `{"type":"user.created","data":`); got != 202 {
			t.Fatalf("malformed: %d", got)
		}
	}
	if n := r.dlqCount(t); n != 1 {
		t.Fatalf("%d dead letters, want 1", n)
	}
	if got := post(t, url, auth, "text/plain", cloudEvent("user.created", "auth0|a", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "")); got != 202 {
		t.Fatalf("text/plain: %d", got)
	}
	big := cloudEvent("user.created", "auth0|big", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", `,"pad":"`+strings.Repeat("x", 70<<10)+`"`)
	if got := post(t, url, auth, "application/json", big); got != 202 {
		t.Fatalf("over MaxBody: %d", got)
	}
	if got := post(t, url, auth, "application/json", cloudEvent("user.updated", "auth0|a", "2026-01-01T00:00:00Z", "last tuesday", "")); got != 202 {
		t.Fatalf("bad updated_at: %d", got)
	}
	if n := r.dlqCount(t); n != 4 {
		t.Fatalf("%d dead letters, want 4", n)
	}
	if n := len(r.streamMsgs(t)); n != 0 {
		t.Fatalf("%d events published from bad content", n)
	}
}

func TestReceiverTruncatesLargeUser(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, []testnats.Option{func(o *server.Options) { o.MaxPayload = 1 << 20 }}, emulator.Knobs{})
	url, _ := r.startReceiver(t, WebhookOptions{})
	big := cloudEvent("user.updated", "auth0|big", "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", `,"user_metadata":{"blob":"`+strings.Repeat("y", 1500<<10)+`"}`)
	if got := post(t, url, "Bearer "+hookToken, "application/json", big); got != 204 {
		t.Fatalf("1.5 MB user: %d", got)
	}
	msgs := r.streamMsgs(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	var ce struct {
		Auth0Truncated bool           `json:"auth0truncated"`
		Data           map[string]any `json:"data"`
	}
	if err := json.Unmarshal(msgs[0].Data, &ce); err != nil {
		t.Fatal(err)
	}
	if !ce.Auth0Truncated || ce.Data["updated_at"] != "2026-01-02T00:00:00.000Z" || ce.Data["user_metadata"] != nil || msgs[0].Subject != "auth0.users.updated" {
		t.Fatalf("truncated event: %+v on %s", ce, msgs[0].Subject)
	}
}

func TestReceiverNATSDownThenBack(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	r.outages = true
	url, _ := r.startReceiver(t, WebhookOptions{PublishWait: 2 * time.Second})
	auth := "Bearer " + hookToken
	if got := post(t, url, auth, "application/json", cloudEvent("user.created", "auth0|1", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "")); got != 204 {
		t.Fatalf("before: %d", got)
	}
	r.ns.Shutdown()
	ev := cloudEvent("user.created", "auth0|2", "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:01.000Z", "")
	if got := post(t, url, auth, "application/json", ev); got != 503 {
		t.Fatalf("NATS down: %d, want 503", got)
	}
	r.ns.Restart()
	// Auth0 retries until a 2xx.
	testwait.For(t, 30*time.Second, "a retry accepted", func() bool { return post(t, url, auth, "application/json", ev) == 204 })
	ids := map[string]bool{}
	for _, m := range r.streamMsgs(t) {
		ids[m.Header.Get(jetstream.MsgIDHeader)] = true
	}
	if !ids["auth0|1@2026-01-01T00:00:00.000Z"] || !ids["auth0|2@2026-01-01T00:00:01.000Z"] || len(ids) != 2 {
		t.Fatalf("stored %v", ids)
	}
}

func TestReceiverConcurrencyBound(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	url, _, p := r.startReceiverP(t, WebhookOptions{MaxConcurrent: 1, SlotWait: 500 * time.Millisecond})
	auth := "Bearer " + hookToken
	// The first request holds the only slot while its body trickles in.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	var wg sync.WaitGroup
	wg.Add(1)
	first := 0
	go func() {
		defer wg.Done()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			first = resp.StatusCode
			resp.Body.Close()
		}
	}()
	ev := cloudEvent("user.created", "auth0|c", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "")
	pw.Write([]byte(ev[:10]))
	// The slot is taken once the first request's headers are in; a second
	// request waits SlotWait for it, then gets 503.
	testwait.For(t, 10*time.Second, "the first request holds the slot", func() bool { return p.receiverSlotsTaken() == 1 })
	start := time.Now()
	if got := post(t, url, auth, "application/json", ev); got != 503 {
		t.Fatalf("beyond the bound: %d, want 503", got)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("503 after %v: it did not wait for a slot", el)
	}
	// A waiting request gets the slot as soon as it is free.
	second := make(chan int, 1)
	go func() { second <- post(t, url, auth, "application/json", ev) }()
	pw.Write([]byte(ev[10:]))
	pw.Close()
	wg.Wait()
	if first != 204 {
		t.Fatalf("first: %d", first)
	}
	if got := <-second; got != 204 {
		t.Fatalf("waiting request: %d", got)
	}
}

// receiverSlotsTaken is how many requests hold a receiver slot.
func (p *Poller) receiverSlotsTaken() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recv == nil {
		return -1
	}
	return len(p.recv.slots)
}

// NATS stops mid-run: the receiver answers 503 and the emulator (as an
// Auth0 event stream) retries; once NATS is back every event is stored
// once, no delivery failed.
func TestReceiverNATSDownEmulatorRetries(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	r.outages = true
	url, m := r.startReceiver(t, WebhookOptions{PublishWait: time.Second})
	e := r.srv.Emulator
	est, err := e.CreateEventStream(emulator.EventStreamConfig{
		Subscriptions: allTypes, WebhookEndpoint: url,
		WebhookAuthorization: emulator.WebhookAuthorization{Method: "bearer", Token: hookToken},
		Delivery:             emulator.DeliveryKnobs{RetryBase: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond, MaxAttempts: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := seed(t, e, "down", 10, nil, false)
	testwait.For(t, 20*time.Second, "the first events stored", func() bool { return len(r.streamMsgs(t)) == 10 })
	r.ns.Shutdown()
	for _, id := range ids {
		if _, err := e.UpdateUser(id, map[string]any{"name": "during the outage"}); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 20*time.Second, "503 answers while NATS is down", func() bool { return value(m.WebhookRequests.WithLabelValues("503")) >= 3 })
	r.ns.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if failed, err := e.WaitDeliveries(ctx, est); err != nil || failed != 0 {
		t.Fatalf("deliveries: %d failed, %v", failed, err)
	}
	updated := 0
	seen := map[string]bool{}
	for _, msg := range r.streamMsgs(t) {
		id := msg.Header.Get(jetstream.MsgIDHeader)
		if seen[id] {
			t.Fatalf("%s stored twice", id)
		}
		seen[id] = true
		if strings.HasPrefix(id, "updated@") {
			updated++
		}
	}
	if updated != len(ids) || len(seen) != 2*len(ids) {
		t.Fatalf("%d updates of %d stored, %d events in all", updated, len(ids), len(seen))
	}
}

// Redis down: 503 (nothing can be marked seen); back: the retry is stored.
func TestReceiverRedisDownThenBack(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	r.outages = true
	url, _ := r.startReceiver(t, WebhookOptions{PublishWait: 2 * time.Second})
	auth := "Bearer " + hookToken
	ev := cloudEvent("user.created", "auth0|r", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "")
	r.rs.Stop()
	if got := post(t, url, auth, "application/json", ev); got != 503 {
		t.Fatalf("Redis down: %d, want 503", got)
	}
	r.rs.Start()
	testwait.For(t, 30*time.Second, "a retry accepted", func() bool { return post(t, url, auth, "application/json", ev) == 204 })
	if n := len(r.streamMsgs(t)); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}
