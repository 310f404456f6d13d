package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/contract"
)

// hookReq is one POST a test receiver got.
type hookReq struct {
	n           int // 1-based arrival number at this receiver
	auth, ctype string
	user, pass  string
	basic       bool
	body        []byte
	ev          struct {
		ID, Type, Time, A0Stream string
		Data                     struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
}

// hookRecv is a webhook receiver on a loopback port; respond picks each
// answer's status from the arrival number (nil: 204).
type hookRecv struct {
	URL string
	got chan hookReq

	mu      sync.Mutex
	n       int
	respond func(n int) int
}

func newHookRecv(t *testing.T, respond func(n int) int) *hookRecv {
	t.Helper()
	h := &hookRecv{got: make(chan hookReq, 1000), respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.n++
		req := hookReq{n: h.n, auth: r.Header.Get("Authorization"), ctype: r.Header.Get("Content-Type"), body: body}
		status := http.StatusNoContent
		if h.respond != nil {
			status = h.respond(h.n)
		}
		h.mu.Unlock()
		req.user, req.pass, req.basic = r.BasicAuth()
		if err := json.Unmarshal(body, &req.ev); err != nil {
			t.Errorf("webhook body is not JSON: %v: %s", err, body)
		}
		h.got <- req
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/auth0/events"
	return h
}

func (h *hookRecv) setRespond(f func(n int) int) {
	h.mu.Lock()
	h.respond = f
	h.mu.Unlock()
}

func (h *hookRecv) next(t *testing.T) hookReq {
	t.Helper()
	select {
	case r := <-h.got:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook POST within 20s")
		return hookReq{}
	}
}

// none asserts nothing more arrived (after the emulator said it is idle).
func (h *hookRecv) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-h.got:
		t.Fatalf("unexpected extra POST: %s", r.body)
	default:
	}
}

var bearer = WebhookAuthorization{Method: WebhookAuthBearer, Token: "tok-s3cret"}

var allUserEvents = []string{"user.created", "user.updated", "user.deleted"}

// fastDelivery keeps retries in milliseconds.
var fastDelivery = DeliveryKnobs{RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Timeout: 10 * time.Second}

func waitIdle(t *testing.T, e *Emulator, id string) (failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	failed, err := e.WaitDeliveries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return failed
}

// adminDo sends one request to the test server; it returns status and body.
func adminDo(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var seedN atomic.Int64

func seed(t *testing.T, e *Emulator, n int) []string {
	t.Helper()
	users := make([]SeedUser, n)
	for i := range users {
		users[i] = SeedUser{Email: fmt.Sprintf("seed%d@example.com", seedN.Add(1))}
	}
	ids, err := e.CreateUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestEventStreamWebhookLifeCycle: a bearer stream gets user.created,
// user.updated (API PATCH and UpdateUser) and user.deleted (API DELETE and
// DeleteUser), each one CloudEvent per POST that matches the spec's schema
// of its type, with the stream's a0stream, the credential and the
// cloudevents content type; the same events reach the SSE stream.
func TestEventStreamWebhookLifeCycle(t *testing.T) {
	v := contract.Load(t)
	s := newTestServer(t, Config{})
	e := s.Emulator
	h := newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer, Delivery: DeliveryKnobs{Concurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "est_") || len(id) != 20 {
		t.Fatalf("stream id %q, want est_ + 16 characters", id)
	}
	api := newClient(t, s)
	var uids []string
	for _, email := range []string{"ada@example.com", "grace@example.com"} {
		r := api.do(http.MethodPost, "/api/v2/users", createBody(email))
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		uids = append(uids, r.obj(t)["user_id"].(string))
	}
	if r := api.do(http.MethodPatch, "/api/v2/users/"+url.PathEscape(uids[0]), map[string]any{"name": "Ada L"}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if _, err := e.UpdateUser(uids[1], map[string]any{"name": "Grace H"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateUser("auth0|nobody", map[string]any{"name": "x"}); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("UpdateUser of an unknown id: %v, want ErrUserNotFound", err)
	}
	if r := api.do(http.MethodDelete, "/api/v2/users/"+url.PathEscape(uids[0]), nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if !e.DeleteUser(uids[1]) {
		t.Fatal("DeleteUser: false")
	}
	want := []struct{ typ, user, name string }{
		{"user.created", uids[0], ""}, {"user.created", uids[1], ""},
		{"user.updated", uids[0], "Ada L"}, {"user.updated", uids[1], "Grace H"},
		{"user.deleted", uids[0], ""}, {"user.deleted", uids[1], ""},
	}
	schema := map[string]string{
		"user.created": "EventStreamCloudEventUserCreatedCloudEvent",
		"user.updated": "EventStreamCloudEventUserUpdatedCloudEvent",
		"user.deleted": "EventStreamCloudEventUserDeletedCloudEvent",
	}
	var last []byte
	for _, w := range want {
		r := h.next(t)
		last = r.body
		obj := r.ev.Data.Object
		if r.ev.Type != w.typ || obj["user_id"] != w.user {
			t.Fatalf("got %s for %v, want %s for %s", r.ev.Type, obj["user_id"], w.typ, w.user)
		}
		if err := v.ValidateSchema(schema[w.typ], r.body); err != nil {
			t.Errorf("%s body does not match %s: %v\n%s", w.typ, schema[w.typ], err, r.body)
		}
		if r.auth != "Bearer tok-s3cret" || r.ctype != "application/cloudevents+json" || r.ev.A0Stream != id {
			t.Errorf("auth %q content-type %q a0stream %q", r.auth, r.ctype, r.ev.A0Stream)
		}
		if w.name != "" && obj["name"] != w.name {
			t.Errorf("%s object name %v, want %s", w.typ, obj["name"], w.name)
		}
		if _, ok := obj["deleted_at"]; ok != (w.typ == "user.deleted") {
			t.Errorf("%s object has deleted_at: %v", w.typ, ok)
		}
	}
	// The validator bites: a member the spec does not know fails.
	if err := v.ValidateSchema(schema["user.deleted"], []byte(strings.Replace(string(last), `"specversion":"1.0"`, `"specversion":"1.0","x":1`, 1))); err == nil {
		t.Error("a broken body passed the schema")
	}
	if failed := waitIdle(t, e, id); failed != 0 || e.DeliveriesPending(id) != 0 {
		t.Fatalf("failed %d pending %d", failed, e.DeliveriesPending(id))
	}
	dl, _ := e.Deliveries(id)
	if len(dl) != 6 {
		t.Fatalf("%d deliveries, want 6", len(dl))
	}
	for _, d := range dl {
		if d.Status != DeliveryDelivered || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 204 || !strings.HasPrefix(d.ID, "dlv_") {
			t.Errorf("delivery %+v, want delivered in one 204 attempt", d)
		}
	}
}

// TestEventStreamBasicAndSubscriptions: basic credentials are sent, and
// only subscribed types are delivered.
func TestEventStreamBasicAndSubscriptions(t *testing.T) {
	s := startServer(t, Config{})
	e := s.Emulator
	h := newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{
		Subscriptions: []string{"user.deleted"}, WebhookEndpoint: h.URL,
		WebhookAuthorization: WebhookAuthorization{Method: WebhookAuthBasic, Username: "auth0", Password: "pw-s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	uids := seed(t, e, 2)
	e.DeleteUser(uids[1])
	r := h.next(t)
	if !r.basic || r.user != "auth0" || r.pass != "pw-s3cret" {
		t.Fatalf("basic auth %v %q %q (Authorization %q)", r.basic, r.user, r.pass, r.auth)
	}
	if r.ev.Type != "user.deleted" || r.ev.Data.Object["user_id"] != uids[1] {
		t.Fatalf("got %s for %v", r.ev.Type, r.ev.Data.Object["user_id"])
	}
	waitIdle(t, e, id)
	h.none(t)
}

// TestEventStreamRetries: non-2xx answers and connection errors are
// retried with backoff until a 2xx, or until MaxAttempts fail the delivery.
func TestEventStreamRetries(t *testing.T) {
	s := startServer(t, Config{EventStreamDefaults: fastDelivery})
	e := s.Emulator
	h := newHookRecv(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, e, 1)
	if failed := waitIdle(t, e, id); failed != 0 {
		t.Fatalf("%d failed deliveries", failed)
	}
	dl, _ := e.Deliveries(id)
	var codes []int
	for _, a := range dl[0].Attempts {
		codes = append(codes, a.StatusCode)
	}
	if !slices.Equal(codes, []int{503, 503, 204}) || dl[0].Status != DeliveryDelivered {
		t.Fatalf("attempts %v status %s, want [503 503 204] delivered", codes, dl[0].Status)
	}
	a := dl[0].Attempts
	if a[1].Time.Sub(a[0].Time) < fastDelivery.RetryBase {
		t.Errorf("second attempt %v after the first, want ≥ the %v backoff", a[1].Time.Sub(a[0].Time), fastDelivery.RetryBase)
	}

	// Nobody listening: every attempt is a connection error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	id2, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: dead, WebhookAuthorization: bearer, Delivery: DeliveryKnobs{MaxAttempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, e, 1)
	if failed := waitIdle(t, e, id2); failed != 1 {
		t.Fatalf("%d failed deliveries, want 1", failed)
	}
	dl, _ = e.Deliveries(id2)
	if len(dl[0].Attempts) != 3 || dl[0].Attempts[2].Error == "" || dl[0].Attempts[2].StatusCode != 0 {
		t.Fatalf("attempts %+v, want 3 connection errors", dl[0].Attempts)
	}
}

// TestEventStreamDuplicates: every 2nd event is delivered twice.
func TestEventStreamDuplicates(t *testing.T) {
	s := startServer(t, Config{})
	e := s.Emulator
	h := newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer, Delivery: DeliveryKnobs{DuplicateEvery: 2}})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, e, 4)
	waitIdle(t, e, id)
	seen := map[string]int{}
	for range 6 {
		seen[h.next(t).ev.ID]++
	}
	h.none(t)
	twice := 0
	for _, n := range seen {
		if n == 2 {
			twice++
		}
	}
	if len(seen) != 4 || twice != 2 {
		t.Fatalf("event ids seen %v, want 4 ids, 2 of them twice", seen)
	}
	dl, _ := e.Deliveries(id)
	dups := 0
	for _, d := range dl {
		if d.Duplicate {
			dups++
		}
	}
	if dups != 2 {
		t.Fatalf("%d duplicate deliveries in the log, want 2", dups)
	}
}

// TestEventStreamOutOfOrder: a reorder window sends a batch in another order.
func TestEventStreamOutOfOrder(t *testing.T) {
	s := startServer(t, Config{})
	e := s.Emulator
	h := newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer,
		Delivery: DeliveryKnobs{Concurrency: 1, ReorderWindow: 5, ReorderHold: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	uids := seed(t, e, 5)
	var got []string
	for range 5 {
		got = append(got, h.next(t).ev.Data.Object["user_id"].(string))
	}
	waitIdle(t, e, id)
	if slices.Equal(got, uids) {
		t.Fatalf("delivered in creation order %v", got)
	}
	slices.Sort(got)
	slices.Sort(uids)
	if !slices.Equal(got, uids) {
		t.Fatalf("delivered %v, want each of %v once", got, uids)
	}
}

// TestEventStreamRoundRobin: attempts alternate over the endpoint list.
func TestEventStreamRoundRobin(t *testing.T) {
	s := startServer(t, Config{})
	e := s.Emulator
	h1, h2 := newHookRecv(t, nil), newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h1.URL, WebhookEndpoints: []string{h2.URL},
		WebhookAuthorization: bearer, Delivery: DeliveryKnobs{Concurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, e, 4)
	waitIdle(t, e, id)
	if len(h1.got) != 2 || len(h2.got) != 2 {
		t.Fatalf("receivers got %d and %d POSTs, want 2 each", len(h1.got), len(h2.got))
	}
	dl, _ := e.Deliveries(id)
	for i, d := range dl {
		if want := []string{h1.URL, h2.URL}[i%2]; d.Attempts[0].Endpoint != want {
			t.Errorf("delivery %d went to %s, want %s", i, d.Attempts[0].Endpoint, want)
		}
	}
}

// TestEventStreamDisableReenableRedeliver: consecutive failures disable the
// stream, events meanwhile fail at once, redelivery is refused until the
// stream is re-enabled (over the admin surface), then every event arrives.
func TestEventStreamDisableReenableRedeliver(t *testing.T) {
	s := startServer(t, Config{EventStreamDefaults: fastDelivery})
	e := s.Emulator
	h := newHookRecv(t, func(int) int { return http.StatusInternalServerError })
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer,
		Delivery: DeliveryKnobs{Concurrency: 1, MaxAttempts: 2, DisableAfter: 3}})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, e, 2)
	if failed := waitIdle(t, e, id); failed != 2 {
		t.Fatalf("%d failed, want 2", failed)
	}
	st, _ := e.EventStream(id)
	if st.Status != EventStreamDisabled || st.ConsecutiveFailures != 3 {
		t.Fatalf("stream %+v, want disabled after 3 consecutive failures", st)
	}
	seed(t, e, 1) // an event while the stream is disabled
	if failed := waitIdle(t, e, id); failed != 3 {
		t.Fatalf("%d failed, want 3 (the event while disabled fails at once)", failed)
	}
	if _, err := e.RedeliverEvents(id); !errors.Is(err, ErrEventStreamDisabled) {
		t.Fatalf("redeliver on a disabled stream: %v", err)
	}

	h.setRespond(nil)
	if code, body := adminDo(t, s, http.MethodPost, "/emulator/event-streams/"+id+"/redeliver", ""); code != http.StatusConflict {
		t.Fatalf("redeliver while disabled: %d %s", code, body)
	}
	if code, body := adminDo(t, s, http.MethodPatch, "/emulator/event-streams/"+id, `{"status":"enabled"}`); code != 200 || !strings.Contains(body, `"status":"enabled"`) {
		t.Fatalf("enable: %d %s", code, body)
	}
	code, body := adminDo(t, s, http.MethodGet, "/emulator/event-streams/"+id+"/deliveries?status=failed", "")
	var failedList []Delivery
	if err := json.Unmarshal([]byte(body), &failedList); code != 200 || err != nil || len(failedList) != 3 {
		t.Fatalf("failed deliveries: %d %v %s", code, err, body)
	}
	if code, body := adminDo(t, s, http.MethodPost, "/emulator/event-streams/"+id+"/redeliver", `{"delivery_ids":["`+failedList[0].ID+`"]}`); code != 200 || body != `{"redelivered":1}` {
		t.Fatalf("redeliver one: %d %s", code, body)
	}
	if code, body := adminDo(t, s, http.MethodPost, "/emulator/event-streams/"+id+"/redeliver", ""); code != 200 || body != `{"redelivered":2}` {
		t.Fatalf("redeliver the rest: %d %s", code, body)
	}
	if failed := waitIdle(t, e, id); failed != 0 {
		t.Fatalf("%d failed after redelivery", failed)
	}
	ids := map[string]bool{}
	for range 6 { // 3 failed attempts (the third disabled the stream), then 3 successes
		r := h.next(t)
		ids[r.ev.ID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("%d distinct events delivered, want 3", len(ids))
	}
}

// TestEventStreamAdmin: the admin surface takes Auth0's create body, never
// shows a credential, and names the field of a bad request.
func TestEventStreamAdmin(t *testing.T) {
	s := startServer(t, Config{})
	h := newHookRecv(t, nil)
	create := func(endpoint, auth, extra string) (int, string) {
		return adminDo(t, s, http.MethodPost, "/emulator/event-streams", `{"name":"to-worker","subscriptions":[{"event_type":"user.created"},{"event_type":"user.updated"}],
			"destination":{"type":"webhook","configuration":{"webhook_endpoint":"`+endpoint+`","webhook_authorization":`+auth+`}}`+extra+`}`)
	}
	auth := `{"method":"bearer","token":"tok-s3cret"}`
	code, body := create(h.URL, auth, `,"webhook_endpoints":["`+h.URL+`"],"delivery":{"retry_base":"5ms","max_attempts":3}`)
	if code != http.StatusCreated || strings.Contains(body, "s3cret") {
		t.Fatalf("create: %d %s", code, body)
	}
	var st EventStream
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Delivery.RetryBase != 5*time.Millisecond || st.Delivery.MaxAttempts != 3 || len(st.WebhookEndpoints) != 2 {
		t.Fatalf("view %+v (%v)", st, err)
	}
	if code, body := adminDo(t, s, http.MethodGet, "/emulator/event-streams", ""); code != 200 || !strings.Contains(body, st.ID) || strings.Contains(body, "s3cret") {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, c := range []struct{ endpoint, auth, extra, want string }{
		{"http://example.com/hook", auth, "", "http is allowed for loopback hosts only"},
		{h.URL, `{"method":"bearer"}`, "", "webhook_authorization.token"},
		{h.URL, `{"method":"basic","username":"u"}`, "", "webhook_authorization.username and .password"},
		{h.URL, `{"method":"custom"}`, "", "webhook_authorization.method"},
		{h.URL, auth, `,"delivery":{"retries":3}`, "retries"},
		{h.URL, auth, `,"delivery":{"delay":"soon"}`, "delivery.delay"},
		{h.URL, auth, `,"delivery":{"duplicate_probability":2}`, "delivery.duplicate_probability"},
	} {
		code, body := create(c.endpoint, c.auth, c.extra)
		if code != http.StatusBadRequest || !strings.Contains(body, c.want) || strings.Contains(body, "s3cret") {
			t.Errorf("%s %s %s: %d %s, want 400 naming %q", c.endpoint, c.auth, c.extra, code, body, c.want)
		}
	}
	if code, body := adminDo(t, s, http.MethodPost, "/emulator/event-streams", `{"subscriptions":[{"event_type":"user.exploded"}],"destination":{"type":"webhook","configuration":{"webhook_endpoint":"`+h.URL+`","webhook_authorization":`+auth+`}}}`); code != 400 || !strings.Contains(body, "subscriptions") {
		t.Errorf("unknown event type: %d %s", code, body)
	}
	if code, _ := adminDo(t, s, http.MethodGet, "/emulator/event-streams/est_nope/deliveries", ""); code != http.StatusNotFound {
		t.Errorf("deliveries of an unknown stream: %d", code)
	}
	if code, body := adminDo(t, s, http.MethodPatch, "/emulator/users/"+url.PathEscape("auth0|nobody"), `{"name":"x"}`); code != http.StatusNotFound {
		t.Errorf("PATCH unknown user: %d %s", code, body)
	}
	if code, _ := adminDo(t, s, http.MethodDelete, "/emulator/event-streams/"+st.ID, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := adminDo(t, s, http.MethodGet, "/emulator/event-streams/"+st.ID, ""); code != http.StatusNotFound {
		t.Fatalf("get after delete: %d", code)
	}
}

// TestEventStreamDisableAfterTotal: failures in all disable a stream even
// when successes keep the consecutive count low.
func TestEventStreamDisableAfterTotal(t *testing.T) {
	s := startServer(t, Config{EventStreamDefaults: fastDelivery})
	e := s.Emulator
	h := newHookRecv(t, func(n int) int { return []int{http.StatusInternalServerError, http.StatusNoContent}[(n-1)%2] })
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h.URL, WebhookAuthorization: bearer,
		Delivery: DeliveryKnobs{Concurrency: 1, DisableAfterTotal: 3}})
	if err != nil {
		t.Fatal(err)
	}
	for i, wantFailed := range []int{0, 0, 1} {
		seed(t, e, 1)
		if failed := waitIdle(t, e, id); failed != wantFailed {
			t.Fatalf("event %d: %d failed, want %d", i, failed, wantFailed)
		}
	}
	st, _ := e.EventStream(id)
	if st.Status != EventStreamDisabled || st.ConsecutiveFailures != 1 || st.TotalFailures != 3 {
		t.Fatalf("stream %+v, want disabled by 3 failures in all", st)
	}
	if err := e.SetEventStreamEnabled(id, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.EventStream(id); st.Status != EventStreamEnabled || st.TotalFailures != 0 {
		t.Fatalf("after re-enabling: %+v", st)
	}
}

// TestUpdatedAtStrictlyIncreases: updates of one user within one
// millisecond get distinct, increasing updated_at values (distinct event ids
// updated@<user_id>@<updated_at> downstream).
func TestUpdatedAtStrictlyIncreases(t *testing.T) { synctest.Test(t, testUpdatedAtStrictlyIncreases) }

func testUpdatedAtStrictlyIncreases(t *testing.T) {
	e := New(Config{})
	uid := seed(t, e, 1)[0]
	var prev string
	for i := range 3 {
		raw, err := e.UpdateUser(uid, map[string]any{"name": fmt.Sprint("n", i)})
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			UpdatedAt string `json:"updated_at"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatal(err)
		}
		if u.UpdatedAt <= prev {
			t.Fatalf("update %d: updated_at %s not after %s", i, u.UpdatedAt, prev)
		}
		prev = u.UpdatedAt
	}
	time.Sleep(time.Second) // a later clock wins again
	raw, _ := e.UpdateUser(uid, map[string]any{"name": "later"})
	if want := time.Now().UTC().Format(timeLayout); !strings.Contains(string(raw), `"updated_at":"`+want+`"`) {
		t.Fatalf("after the clock moved: %s, want updated_at %s", raw, want)
	}
}

// TestEventStreamUpdate: a stream's endpoint, credentials, knobs and
// subscriptions change at run time (admin PATCH and Go API).
func TestEventStreamUpdate(t *testing.T) {
	s := startServer(t, Config{})
	e := s.Emulator
	h1, h2 := newHookRecv(t, nil), newHookRecv(t, nil)
	id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: allUserEvents, WebhookEndpoint: h1.URL, WebhookAuthorization: bearer, Delivery: DeliveryKnobs{Concurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	code, body := adminDo(t, s, http.MethodPatch, "/emulator/event-streams/"+id, `{"destination":{"type":"webhook","configuration":{"webhook_endpoint":"`+h2.URL+`",
		"webhook_authorization":{"method":"basic","username":"u","password":"pw-s3cret"}}},"delivery":{"duplicate_every":1}}`)
	if code != 200 || strings.Contains(body, "s3cret") || !strings.Contains(body, `"duplicate_every":1`) {
		t.Fatalf("patch: %d %s", code, body)
	}
	seed(t, e, 1)
	waitIdle(t, e, id)
	for range 2 {
		if r := h2.next(t); r.user != "u" || r.pass != "pw-s3cret" {
			t.Fatalf("basic %q %q", r.user, r.pass)
		}
	}
	h1.none(t)
	h2.none(t)
	if code, body := adminDo(t, s, http.MethodPatch, "/emulator/event-streams/"+id, `{"delivery":{"concurrency":3}}`); code != 400 || !strings.Contains(body, "concurrency") {
		t.Fatalf("changing concurrency: %d %s", code, body)
	}
	if code, body := adminDo(t, s, http.MethodPatch, "/emulator/event-streams/"+id, `{"subscriptions":[{"event_type":"user.deleted"}]}`); code != 200 {
		t.Fatalf("subscriptions: %d %s", code, body)
	}
	seed(t, e, 1)
	if dl, _ := e.Deliveries(id); len(dl) != 2 {
		t.Fatalf("%d deliveries after unsubscribing from user.created, want still 2", len(dl))
	}
	if err := e.UpdateEventStream(id, func(c *EventStreamConfig) { c.WebhookEndpoint = "ftp://x" }); !errors.Is(err, ErrInvalidEventStream) {
		t.Fatalf("bad endpoint: %v", err)
	}
	if st, _ := e.EventStream(id); st.WebhookEndpoints[0] != h2.URL {
		t.Fatalf("a refused update changed the stream: %+v", st)
	}
}
