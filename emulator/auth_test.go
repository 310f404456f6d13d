package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func postToken(t *testing.T, s *Server, contentType, body string, basic ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token body %q: %v", b, err)
	}
	return resp.StatusCode, m
}

func wantOAuthError(t *testing.T, status int, m map[string]any, wantStatus int, code string) {
	t.Helper()
	if status != wantStatus || m["error"] != code || m["error_description"] == nil || len(m) != 2 {
		t.Fatalf("got %d %v, want %d %s in the OAuth shape", status, m, wantStatus, code)
	}
}

func TestTokenEndpoint(t *testing.T) {
	s := newTestServer(t, Config{
		Clients:       []ClientCredentials{{ID: "app", Secret: "s3cret", Scopes: []string{"read:users"}}},
		TokenLifetime: time.Hour,
	})
	aud := s.URL + "/api/v2/"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"}, "audience": {aud}}
	st, m := postToken(t, s, "application/x-www-form-urlencoded", form.Encode())
	if st != 200 || m["token_type"] != "Bearer" || m["expires_in"] != 3600.0 || m["scope"] != "read:users" || m["access_token"] == "" {
		t.Fatalf("form: %d %v", st, m)
	}
	j, _ := json.Marshal(map[string]string{"grant_type": "client_credentials", "client_id": "app", "client_secret": "s3cret", "audience": aud})
	if st, m := postToken(t, s, "application/json", string(j)); st != 200 || m["access_token"] == "" {
		t.Fatalf("json: %d %v", st, m)
	}
	basic := url.Values{"grant_type": {"client_credentials"}, "audience": {aud}}
	if st, m := postToken(t, s, "application/x-www-form-urlencoded", basic.Encode(), "app", "s3cret"); st != 200 {
		t.Fatalf("basic: %d %v", st, m)
	}
	bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"wrong"}, "audience": {aud}}
	st, m = postToken(t, s, "application/x-www-form-urlencoded", bad.Encode())
	wantOAuthError(t, st, m, 401, "access_denied")
	if strings.Contains(string(mustJSON(m)), "wrong") {
		t.Fatal("secret echoed")
	}
	unknown := url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}, "client_secret": {"x"}, "audience": {aud}}
	st, m = postToken(t, s, "application/x-www-form-urlencoded", unknown.Encode())
	wantOAuthError(t, st, m, 401, "access_denied")
	gt := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {"s3cret"}, "audience": {aud}}
	st, m = postToken(t, s, "application/x-www-form-urlencoded", gt.Encode())
	wantOAuthError(t, st, m, 403, "unauthorized_client")
	noAud := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"}}
	st, m = postToken(t, s, "application/x-www-form-urlencoded", noAud.Encode())
	wantOAuthError(t, st, m, 403, "access_denied")
	wrongAud := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"}, "audience": {"https://x/other"}}
	st, m = postToken(t, s, "application/x-www-form-urlencoded", wrongAud.Encode())
	wantOAuthError(t, st, m, 403, "access_denied")
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestTokenExpiryAndScopes(t *testing.T) { synctest.Test(t, testTokenExpiryAndScopes) }

func testTokenExpiryAndScopes(t *testing.T) {
	s := newMemTestServer(t, Config{
		TokenLifetime: time.Minute,
		Clients: []ClientCredentials{
			{ID: "reader", Secret: "r", Scopes: []string{"read:users"}},
			{ID: "all", Secret: "a"},
		},
	})
	c := newClient(t, s) // reader
	if r := c.do("GET", "/api/v2/users", nil); r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	m := wantAPIError(t, c.do("POST", "/api/v2/users", createBody("a@example.com")), 403, "insufficient_scope")
	if m["message"] != "Insufficient scope, expected any of: create:users" {
		t.Fatalf("message: %v", m["message"])
	}
	wantAPIError(t, c.do("GET", "/api/v2/events", nil), 403, "insufficient_scope")
	wantAPIError(t, c.do("DELETE", "/api/v2/users/x", nil), 403, "insufficient_scope")
	wantAPIError(t, c.do("PATCH", "/api/v2/users/x", map[string]any{}), 403, "insufficient_scope")

	time.Sleep(61 * time.Second)
	wantAPIError(t, c.do("GET", "/api/v2/users", nil), 401, "")
	// A token this tenant never issued.
	c.token = "eyJhbGciOi.foreign.token"
	wantAPIError(t, c.do("GET", "/api/v2/users", nil), 401, "")
	c.token = ""
	wantAPIError(t, c.do("GET", "/api/v2/users", nil), 401, "")

	// A fresh token works again; the request log shows who called.
	c.token = c.fetchToken("all", "a")
	if r := c.do("GET", "/api/v2/users", nil); r.status != 200 {
		t.Fatalf("after refresh: %d", r.status)
	}
	log := s.Emulator.Requests()
	last := log[len(log)-1]
	if last.ClientID != "all" || last.Status != 200 || last.Method != "GET" || last.Path != "/api/v2/users" {
		t.Fatalf("log entry: %+v", last)
	}
}

func TestRateLimitBucket(t *testing.T) { synctest.Test(t, testRateLimitBucket) }

func testRateLimitBucket(t *testing.T) {
	s := newMemTestServer(t, Config{Knobs: Knobs{RateLimit: 2, RateBurst: 3, RetryAfterProbability: 1}})
	c := newClient(t, s)
	for i := 0; i < 3; i++ {
		r := c.do("GET", "/api/v2/users", nil)
		if r.status != 200 {
			t.Fatalf("req %d: %d", i, r.status)
		}
		if r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("headers %d: %v", i, r.header)
		}
	}
	r := c.do("GET", "/api/v2/users", nil)
	m := wantAPIError(t, r, 429, "too_many_requests")
	if m["message"] != "Global limit has been reached" {
		t.Fatalf("message %v", m["message"])
	}
	reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset <= time.Now().Unix() {
		t.Fatalf("reset %q not in the future of %d", r.header.Get("X-RateLimit-Reset"), time.Now().Unix())
	}
	if r.header.Get("Retry-After") != "1" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", r.header)
	}
	// Still limited until the clock passes the reset; then it recovers.
	time.Sleep(100 * time.Millisecond)
	wantAPIError(t, c.do("GET", "/api/v2/users", nil), 429, "too_many_requests")
	for time.Now().Unix() < reset {
		time.Sleep(100 * time.Millisecond)
	}
	if r := c.do("GET", "/api/v2/users", nil); r.status != 200 {
		t.Fatalf("after reset: %d %s", r.status, r.body)
	}
	// 401s also carry the headers.
	c.token = "bad"
	if r := c.do("GET", "/api/v2/users", nil); r.header.Get("X-RateLimit-Limit") == "" {
		t.Fatal("401 without rate-limit headers")
	}
}

func TestFaultInjectionKeepsState(t *testing.T) {
	s := newTestServer(t, Config{Knobs: Knobs{FaultRate: 1}})
	c := newClient(t, s)
	wantAPIError(t, c.do("POST", "/api/v2/users", createBody("f@example.com")), 503, "")
	if s.Emulator.UserCount() != 0 {
		t.Fatal("a 503 changed state")
	}
	s.Emulator.SetKnobs(func(k *Knobs) { k.FaultRate = 0 })
	if r := c.do("POST", "/api/v2/users", createBody("f@example.com")); r.status != 201 {
		t.Fatalf("after faults: %d", r.status)
	}
}

func TestRequestLogAndAdmin(t *testing.T) {
	s := newTestServer(t, Config{})
	c := newClient(t, s)
	req, _ := http.NewRequest("GET", s.URL+"/api/v2/users?q=email%3Ax", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "tester/1")
	req.Header.Set("Last-Event-ID", "off-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	log := s.Emulator.Requests()
	if len(log) != 2 || log[0].Path != "/oauth/token" {
		t.Fatalf("log: %+v", log)
	}
	e := log[1]
	if e.Query != "q=email%3Ax" || e.UserAgent != "tester/1" || e.LastEventID != "off-1" || e.ClientID != DefaultClientID || e.Time.IsZero() {
		t.Fatalf("entry: %+v", e)
	}
	// HTTP admin: seed users, read log, change knobs.
	body := `[{"email":"Seed@Example.com","created_at":"2024-01-01T00:00:00.123Z","fields":{"given_name":"S"}},{"user_id":"auth0|fixed","email":"b@example.com"}]`
	r, err := http.Post(s.URL+"/emulator/users", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		UserIDs []string `json:"user_ids"`
	}
	json.NewDecoder(r.Body).Decode(&out)
	r.Body.Close()
	if len(out.UserIDs) != 2 || out.UserIDs[1] != "auth0|fixed" {
		t.Fatalf("seeded: %+v", out)
	}
	raw, ok := s.Emulator.UserJSON(out.UserIDs[0])
	if !ok || !strings.Contains(string(raw), `"created_at":"2024-01-01T00:00:00.123Z"`) || !strings.Contains(string(raw), `"email":"seed@example.com"`) {
		t.Fatalf("seeded user: %s", raw)
	}
	kreq, _ := http.NewRequest("PATCH", s.URL+"/emulator/knobs", strings.NewReader(`{"index_lag":"2s","rate_limit":5,"latency":1000}`))
	kr, err := http.DefaultClient.Do(kreq)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := io.ReadAll(kr.Body)
	kr.Body.Close()
	k := s.Emulator.Knobs()
	if kr.StatusCode != 200 || k.IndexLag != 2*time.Second || k.RateLimit != 5 || k.Latency != time.Microsecond || !strings.Contains(string(kb), `"index_lag":"2s"`) {
		t.Fatalf("knobs: %d %s %+v", kr.StatusCode, kb, k)
	}
	kreq, _ = http.NewRequest("PATCH", s.URL+"/emulator/knobs", strings.NewReader(`{"nope":1}`))
	kr, _ = http.DefaultClient.Do(kreq)
	kr.Body.Close()
	if kr.StatusCode != 400 {
		t.Fatalf("unknown knob: %d", kr.StatusCode)
	}
	lr, _ := http.Get(s.URL + "/emulator/requests")
	var entries []LoggedRequest
	json.NewDecoder(lr.Body).Decode(&entries)
	lr.Body.Close()
	if len(entries) != 2 {
		t.Fatalf("admin log: %+v", entries)
	}
}

func TestFaultAfterApplies(t *testing.T) {
	s := newTestServer(t, Config{Knobs: Knobs{FaultAfterRate: 1}})
	c := newClient(t, s)
	wantAPIError(t, c.do("POST", "/api/v2/users", createBody("amb@example.com")), 503, "")
	if s.Emulator.UserCount() != 1 {
		t.Fatal("fault_after_rate must apply the change before answering 503")
	}
	// The reply is lost but the user exists: a retry meets 409.
	wantAPIError(t, c.do("POST", "/api/v2/users", createBody("amb@example.com")), 503, "")
	s.Emulator.SetKnobs(func(k *Knobs) { k.FaultAfterRate = 0; k.LatencyAfter = 300 * time.Millisecond })
	client := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequest("POST", s.URL+"/api/v2/users", strings.NewReader(`{"connection":"Username-Password-Authentication","email":"late@example.com","password":"x"}`))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if _, err := client.Do(req); err == nil {
		t.Fatal("expected a client timeout")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Emulator.UserCount() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the timed-out create did not take effect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestLogBounded(t *testing.T) {
	e := New(Config{RequestLogMax: 10})
	for i := 0; i < 25; i++ {
		e.log.add(LoggedRequest{Path: strconv.Itoa(i)})
	}
	got := e.Requests()
	if len(got) > 10 || got[len(got)-1].Path != "24" {
		t.Fatalf("log %+v", got)
	}
}
