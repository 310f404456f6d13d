package consumer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

const conn = "Username-Password-Authentication"

func TestServiceEverySubject(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*"}})

	r := e.request(CmdCreate, `{"connection":"`+conn+`","email":"Alice@Example.com","password":"Secret-123!","user_metadata":{"team":"a"}}`, nil)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	u := r.json(t)
	id, _ := u["user_id"].(string)
	if !strings.HasPrefix(id, "auth0|") || u["email"] != "alice@example.com" {
		t.Fatalf("create reply: %s", r.body)
	}
	if strings.Contains(string(r.body), "Secret-123") {
		t.Fatal("password echoed in the reply")
	}

	r = e.request(CmdGet, `{"user_id":"`+id+`"}`, nil)
	if r.status != 200 || r.json(t)["user_id"] != id {
		t.Fatalf("get: %d %s", r.status, r.body)
	}

	r = e.request(CmdUpdate, `{"user_id":"`+id+`","name":"Alice A","user_metadata":{"lang":"fr"}}`, nil)
	if r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	um, _ := r.json(t)["user_metadata"].(map[string]any)
	if r.json(t)["name"] != "Alice A" || um["team"] != "a" || um["lang"] != "fr" {
		t.Fatalf("update reply: %s", r.body)
	}

	r = e.request(CmdSearchByEmail, `{"email":"alice@example.com"}`, nil)
	var byEmail struct {
		Users []map[string]any `json:"users"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &byEmail) != nil || len(byEmail.Users) != 1 || byEmail.Users[0]["user_id"] != id {
		t.Fatalf("search_by_email: %d %s", r.status, r.body)
	}

	// Search: seed 150 indexed users so limit > 100 pages through SearchAll.
	seed := make([]emulator.SeedUser, 150)
	for i := range seed {
		seed[i] = emulator.SeedUser{Email: fmt.Sprintf("s%03d@search.test", i), Indexed: true, NoEvent: true, Fields: map[string]any{"name": "searchme"}}
	}
	if _, err := e.em.Emulator.CreateUsers(seed); err != nil {
		t.Fatal(err)
	}
	var sr struct {
		Users []map[string]any `json:"users"`
		Total int              `json:"total"`
	}
	r = e.request(CmdSearch, `{"query":"name:searchme","limit":120,"sort":"email:1"}`, nil)
	if r.status != 200 || json.Unmarshal(r.body, &sr) != nil || len(sr.Users) != 120 || sr.Total != 150 {
		t.Fatalf("search limit 120: %d users, total %d: %.300s", len(sr.Users), sr.Total, r.body)
	}
	r = e.request(CmdSearch, `{"query":"name:searchme"}`, nil)
	if r.status != 200 || json.Unmarshal(r.body, &sr) != nil || len(sr.Users) != 50 || sr.Total != 150 {
		t.Fatalf("search default limit: %d users, total %d", len(sr.Users), sr.Total)
	}

	r = e.request(CmdAPICall, `{"method":"GET","path":"/users/`+strings.ReplaceAll(id, "|", "%7C")+`","headers":{"Accept":"application/json"}}`, nil)
	var raw struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    map[string]any    `json:"body"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &raw) != nil || raw.Status != 200 || raw.Body["user_id"] != id {
		t.Fatalf("api.call: %d %s", r.status, r.body)
	}
	// api.call passes Auth0's status through, whatever it is.
	r = e.request(CmdAPICall, `{"method":"GET","path":"/users/auth0%7Cnope"}`, nil)
	if r.status != 200 || json.Unmarshal(r.body, &raw) != nil || raw.Status != 404 {
		t.Fatalf("api.call 404: %d %s", r.status, r.body)
	}

	r = e.request(CmdDelete, `{"user_id":"`+id+`"}`, nil)
	if r.status != 200 || string(r.body) != `{"deleted":true,"user_id":"`+id+`"}` {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = e.request(CmdDelete, `{"user_id":"`+id+`"}`, nil)
	if r.status != 200 || r.json(t)["deleted"] != true {
		t.Fatalf("delete again: %d %s", r.status, r.body)
	}
	if _, ok := e.em.Emulator.UserJSON(id); ok {
		t.Fatal("user still exists after delete")
	}
}

func wantError(t *testing.T, r reply, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d, got %d: %s", status, r.status, r.body)
	}
	if r.errMsg == "" || strings.ContainsAny(r.errMsg, "\r\n") {
		t.Fatalf("Nats-Service-Error %q must be one non-empty line", r.errMsg)
	}
	eo := r.errorBody(t)
	if int(eo["status"].(float64)) != status || eo["code"] != code || eo["message"] == "" {
		t.Fatalf("want error %d %s, got %s", status, code, r.body)
	}
	return eo
}

func TestServiceValidationErrors(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.em.Emulator.ResetRequests()
	for _, tc := range []struct {
		cmd, body, field string
	}{
		{CmdCreate, `{"connection":`, "invalid JSON"},
		{CmdCreate, `{"connection":"c","favourite":"x"}`, `unknown field "favourite"`},
		{CmdCreate, `{"email":"a@b.c"}`, `"connection" is required`},
		{CmdCreate, `{"connection":"c","email":"not an email"}`, `"email" is not a valid email`},
		{CmdCreate, `{"connection":"c","phone_number":"555"}`, `"phone_number"`},
		{CmdSearch, `{"limit":5000}`, `"limit" must be between 1 and 1000`},
		{CmdGet, `{"user_id":42}`, `"user_id" must be a string, got number`},
		{CmdUpdate, `{"user_id":"x","identities":[]}`, `unknown field "identities"`},
		{CmdSearchByEmail, `{}`, `"email" is required`},
	} {
		r := e.request(tc.cmd, tc.body, nil)
		eo := wantError(t, r, 400, CodeInvalidCommand)
		if !strings.Contains(eo["message"].(string), tc.field) || !strings.Contains(r.errMsg, tc.field) {
			t.Errorf("%s %s: message %q does not name %q", tc.cmd, tc.body, eo["message"], tc.field)
		}
	}
	big := `{"connection":"c","name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	wantError(t, e.request(CmdCreate, big, nil), 400, CodeInvalidCommand)
	wantError(t, e.request(CmdCreate, `{"connection":"c"}`, map[string]string{HeaderIdempotencyKey: "bad key!"}), 400, CodeInvalidCommand)
	if n := len(e.em.Emulator.Requests()); n != 0 {
		t.Fatalf("invalid commands reached the emulator: %d requests", n)
	}
}

func TestServiceAuth0Errors(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*"}})
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|nobody"}`, nil), 404, CodeNotFound)
	wantError(t, e.request(CmdUpdate, `{"user_id":"auth0|nobody","name":"x"}`, nil), 404, CodeNotFound)

	body := `{"connection":"` + conn + `","email":"dup@example.com","password":"Secret-123!"}`
	if r := e.request(CmdCreate, body, nil); r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	eo := wantError(t, e.request(CmdCreate, body, nil), 409, CodeConflict)
	a0, ok := eo["auth0"].(map[string]any)
	if !ok || a0["statusCode"].(float64) != 409 || a0["errorCode"] != "auth0_idp_error" {
		t.Fatalf("409 without Auth0's body under auth0: %v", eo)
	}
	// Auth0's own 400 (the emulator refuses a create without password on a database connection).
	eo = wantError(t, e.request(CmdCreate, `{"connection":"`+conn+`","email":"nopw@example.com"}`, nil), 400, CodeAuth0BadRequest)
	if _, ok := eo["auth0"].(map[string]any); !ok {
		t.Fatalf("Auth0 400 without its body: %v", eo)
	}
	wantError(t, e.request(CmdAPICall, `{"method":"DELETE","path":"/users/auth0%7C1"}`, nil), 403, CodeNotAllowed)
	wantError(t, e.request(CmdAPICall, `{"method":"GET","path":"/logs"}`, nil), 403, CodeNotAllowed)
}

func TestServiceAuth0Unavailable(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.em.Stop()
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 503, CodeAuth0Unavailable)
	if err := e.em.Start(); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 404, CodeNotFound)
}

func TestServiceAuth0ServerError(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Knobs: emulator.Knobs{FaultRate: 1}}})
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 502, CodeAuth0Error)
}

func TestServiceTimeout(t *testing.T) {
	e := newEnv(t, envConfig{
		emu:  emulator.Config{Knobs: emulator.Knobs{Latency: 3 * time.Second}},
		opts: func(o *Options) { o.Timeout = 300 * time.Millisecond },
	})
	start := time.Now()
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 504, CodeTimeout)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("504 took %v; the budget is 300ms", d)
	}
}

func TestServiceRateLimitedAfterRetries(t *testing.T) {
	// A frozen emulator clock: the bucket never refills once drained, so
	// every retry meets 429 again.
	frozen := time.Now()
	e := newEnv(t, envConfig{emu: emulator.Config{
		Now:   func() time.Time { return frozen },
		Knobs: emulator.Knobs{RateLimit: 1, RateBurst: 1},
	}})
	wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 404, CodeNotFound) // takes the only token
	eo := wantError(t, e.request(CmdGet, `{"user_id":"auth0|x"}`, nil), 429, CodeRateLimited)
	if a0, _ := eo["auth0"].(map[string]any); a0 == nil || a0["errorCode"] != "too_many_requests" {
		t.Fatalf("429 without Auth0's body: %v", eo)
	}
}

func TestServiceAPICallSSRF(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /*", "POST /*"}})
	e.em.Emulator.ResetRequests()
	for _, body := range []string{
		`{"method":"GET","path":"https://other.host/x"}`,
		`{"method":"GET","path":"//other.host/x"}`,
		`{"method":"GET","path":"/../oauth/token"}`,
		`{"method":"GET","path":"/%2e%2e/oauth/token"}`,
		`{"method":"GET","path":"/%2E%2E/%2e%2e/oauth/token"}`,
		`{"method":"GET","path":"/users\\..\\oauth"}`,
		`{"method":"GET","path":"\\\\other.host\\x"}`,
		`{"method":"GET","path":"/users\u0000"}`,
		`{"method":"GET","path":"/users\r\nHost: evil"}`,
		`{"method":"GET","path":"/users%0d%0aX: y"}`,
		`{"method":"GET","path":"/users","headers":{"Authorization":"Bearer stolen"}}`,
		`{"method":"GET","path":"/users","headers":{"host":"other.host"}}`,
		`{"method":"POST","path":"/users","headers":{"Content-Type":"application/json\r\nX-Evil: 1"}}`,
	} {
		r := e.request(CmdAPICall, body, nil)
		wantError(t, r, 400, CodeInvalidCommand)
	}
	if reqs := e.em.Emulator.Requests(); len(reqs) != 0 {
		t.Fatalf("SSRF attempts reached the emulator: %+v", reqs)
	}
}

func TestServiceAPICallRedactsClientSecret(t *testing.T) {
	e := newEnv(t, envConfig{apiCallAllow: []string{"GET /users*"}})
	ids, err := e.em.Emulator.CreateUsers([]emulator.SeedUser{{Email: "sec@example.com", Indexed: true,
		Fields: map[string]any{"app_metadata": map[string]any{"client_secret": "s3cr3t-value", "nested": map[string]any{"client_secret": "deeper"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.request(CmdAPICall, `{"method":"GET","path":"/users/`+strings.ReplaceAll(ids[0], "|", "%7C")+`"}`, nil)
	if r.status != 200 || strings.Contains(string(r.body), "s3cr3t-value") || strings.Contains(string(r.body), "deeper") || !strings.Contains(string(r.body), `"[redacted]"`) {
		t.Fatalf("client_secret not redacted: %s", r.body)
	}
}

func TestServiceIdempotencyKey(t *testing.T) {
	e := newEnv(t, envConfig{emu: emulator.Config{Knobs: emulator.Knobs{Latency: 100 * time.Millisecond}}})
	body := `{"connection":"` + conn + `","email":"idem@example.com","password":"Secret-123!"}`
	hdr := map[string]string{HeaderIdempotencyKey: "create-idem-1"}
	// Concurrent duplicates: one executes, the others wait for its outcome.
	var wg sync.WaitGroup
	replies := make([]reply, 5)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if replies[i], err = e.tryRequest(CmdCreate, body, hdr, 20*time.Second); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if r.status != 200 || string(r.body) != string(replies[0].body) {
			t.Fatalf("reply %d differs: %d %s vs %s", i, r.status, r.body, replies[0].body)
		}
	}
	again := e.request(CmdCreate, body, hdr)
	if again.status != 200 || string(again.body) != string(replies[0].body) {
		t.Fatalf("repeat got %d %s", again.status, again.body)
	}
	if n := e.em.Emulator.UserCount(); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	creates := 0
	for _, rq := range e.em.Emulator.Requests() {
		if rq.Method == "POST" && rq.Path == "/api/v2/users" {
			creates++
		}
	}
	if creates != 1 {
		t.Fatalf("%d creates reached the emulator, want 1", creates)
	}
	// An error outcome is stored too: a repeat of a 409 is the same 409.
	wantError(t, e.request(CmdCreate, body, map[string]string{HeaderIdempotencyKey: "create-idem-2"}), 409, CodeConflict)
	e.em.Emulator.DeleteUser(replies[0].json(t)["user_id"].(string))
	wantError(t, e.request(CmdCreate, body, map[string]string{HeaderIdempotencyKey: "create-idem-2"}), 409, CodeConflict)
}

func TestServiceDiscoveryAndStats(t *testing.T) {
	const n = 4
	e := newEnv(t, envConfig{
		emu:  emulator.Config{Knobs: emulator.Knobs{Latency: 20 * time.Millisecond}},
		opts: func(o *Options) { o.Concurrency = n; o.Version = "1.2.3" },
	})
	// PING and INFO: one instance per process, whatever the concurrency.
	collect := func(subject string) [][]byte {
		t.Helper()
		inbox := e.nc.NewRespInbox()
		sub, err := e.nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := e.nc.PublishRequest(subject, inbox, nil); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for {
			wait := 5 * time.Second
			if len(out) > 0 {
				wait = 500 * time.Millisecond // room for a second instance to answer
			}
			m, err := sub.NextMsg(wait)
			if err != nil {
				if len(out) == 0 {
					t.Fatalf("%s: no answer: %v", subject, err)
				}
				return out
			}
			out = append(out, m.Data)
		}
	}
	pings := collect("$SRV.PING." + ServiceName)
	if len(pings) != 1 {
		t.Fatalf("%d service instances answered PING, want 1", len(pings))
	}
	var ping micro.Ping
	if json.Unmarshal(pings[0], &ping) != nil || ping.Name != ServiceName || ping.Version != "1.2.3" || ping.Metadata["version"] != "1.2.3" ||
		ping.Metadata["subject_prefix"] != "auth0" || ping.Metadata["base_url"] != e.em.URL {
		t.Fatalf("ping: %s", pings[0])
	}
	var info micro.Info
	if err := json.Unmarshal(collect("$SRV.INFO." + ServiceName)[0], &info); err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	for _, ep := range info.Endpoints {
		subjects[ep.Subject] = true
	}
	for _, c := range e.c.cmds.names(TransportService) {
		if !subjects["auth0.svc."+c] {
			t.Fatalf("INFO lacks auth0.svc.%s: %+v", c, info.Endpoints)
		}
	}

	// Concurrent traffic: 30 gets that 404, 30 invalid, 20 deletes that succeed.
	var wg sync.WaitGroup
	send := func(cmd, body string, count int) {
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.tryRequest(cmd, body, nil, 20*time.Second); err != nil {
					t.Error(err)
				}
			}()
			if i%8 == 7 {
				wg.Wait() // stay under the queue bound: this test is about the figures
			}
		}
		wg.Wait()
	}
	send(CmdGet, `{"user_id":"auth0|missing"}`, 30)
	send(CmdGet, `{"user_id":1}`, 30)
	send(CmdDelete, `{"user_id":"auth0|gone"}`, 20)

	// The true figures are the StatsHandler data: micro's own counters see
	// only the hand-off.
	executed, errs := map[string]int64{}, map[string]int64{}
	var proc time.Duration
	stats := collect("$SRV.STATS." + ServiceName)
	var st micro.Stats
	if err := json.Unmarshal(stats[0], &st); err != nil {
		t.Fatal(err)
	}
	for _, ep := range st.Endpoints {
		var d endpointStats
		if err := json.Unmarshal(ep.Data, &d); err != nil {
			t.Fatalf("endpoint %s data %s: %v", ep.Name, ep.Data, err)
		}
		executed[ep.Subject] += d.Executed
		errs[ep.Subject] += d.Errors
		proc += time.Duration(d.ProcessingTime)
	}
	if executed["auth0.svc.users.get"] != 60 || errs["auth0.svc.users.get"] != 60 || executed["auth0.svc.users.delete"] != 20 || errs["auth0.svc.users.delete"] != 0 {
		t.Fatalf("stats: executed %v errors %v", executed, errs)
	}
	// 50 commands reached the emulator with 20ms latency each.
	if proc < 50*20*time.Millisecond {
		t.Fatalf("processing time %v is less than the emulator's latency alone", proc)
	}
}

// TestServiceConcurrencyBound: never more than Concurrency commands at once.
func TestServiceConcurrencyBound(t *testing.T) {
	var mu sync.Mutex
	cur, peak := 0, 0
	e := newEnv(t, envConfig{
		emu: emulator.Config{Knobs: emulator.Knobs{Latency: 30 * time.Millisecond}},
		wrap: func(c Client) Client {
			return &hookClient{Client: c, before: func() {
				mu.Lock()
				cur++
				peak = max(peak, cur)
				mu.Unlock()
			}, after: func() { mu.Lock(); cur--; mu.Unlock() }}
		},
		opts: func(o *Options) { o.Concurrency = 3 },
	})
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.tryRequest(CmdGet, `{"user_id":"auth0|x"}`, nil, 20*time.Second); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.js.Publish(t.Context(), "auth0.cmd.users.delete", []byte(`{"user_id":"auth0|y"}`), jetstreamMsgID(fmt.Sprintf("del-%d", i)))
		}()
	}
	wg.Wait()
	testwait.For(t, 10*time.Second, "durable deletes", func() bool {
		return resultsCount(t, e) == 10
	})
	mu.Lock()
	defer mu.Unlock()
	if peak > 3 || peak < 2 {
		t.Fatalf("peak concurrency %d, want ≤ 3 (and some parallelism)", peak)
	}
}
