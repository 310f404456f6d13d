package emulator

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/contract"
)

// Tests of the Auth0 behaviours of AUTH0.md "Users" the emulator used to
// let pass: each drives the full emulator over HTTP.

// newStrictServer also validates every request against the OpenAPI subset
// (for tests whose requests are all valid by the spec).
func newStrictServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startServer(t, cfg, contract.Middleware(t, contract.WithRequests()))
}

// newMemStrictServer is newStrictServer over in-memory connections (see
// startMemServer).
func newMemStrictServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startMemServer(t, cfg, contract.Middleware(t, contract.WithRequests()))
}

func setKnobs(t *testing.T, s *Server, patch string) tresp {
	t.Helper()
	resp, err := s.Client.Post(s.URL+"/emulator/knobs", "application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return tresp{status: resp.StatusCode}
}

func TestUnknownConnection(t *testing.T) {
	s := newStrictServer(t, Config{})
	c := newClient(t, s)
	b := createBody("a@example.com")
	b["connection"] = "Other-DB"
	m := wantAPIError(t, c.do("POST", "/api/v2/users", b), 400, "inexistent_connection")
	if m["message"] != "The connection does not exist." {
		t.Fatalf("message %q", m["message"])
	}
	if s.Emulator.UserCount() != 0 {
		t.Fatal("a user was created in an unknown connection")
	}

	// The admin surface adds connections; then the same request succeeds.
	resp, err := http.Post(s.URL+"/emulator/connections", "application/json", strings.NewReader(`[{"name":"Other-DB"},{"name":"passwordless","strategy":"email"}]`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /emulator/connections: %v %v", resp, err)
	}
	resp.Body.Close()
	if r := c.do("POST", "/api/v2/users", b); r.status != 201 {
		t.Fatalf("create in the added connection: %d %s", r.status, r.body)
	}
	got := map[string]string{}
	for _, cn := range s.Emulator.Connections() {
		got[cn.Name] = cn.Strategy
	}
	if got[DefaultConnection] != StrategyDatabase || got["Other-DB"] != StrategyDatabase || got["passwordless"] != StrategyEmail || len(got) != 3 {
		t.Fatalf("connections %v", got)
	}
	for _, bad := range []string{`[{"strategy":"auth0"}]`, `{"name":"a|b"}`, `"x"`} {
		resp, err := http.Post(s.URL+"/emulator/connections", "application/json", strings.NewReader(bad))
		if err != nil || resp.StatusCode != 400 {
			t.Errorf("POST /emulator/connections %s: %v %v, want 400", bad, resp, err)
		}
		resp.Body.Close()
	}

	// PATCH naming an unknown connection (which identity to change) is refused.
	id := c.do("POST", "/api/v2/users", createBody("p@example.com")).obj(t)["user_id"].(string)
	wantAPIError(t, c.do("PATCH", "/api/v2/users/"+url.PathEscape(id), map[string]any{"connection": "Nope", "name": "x"}), 400, "inexistent_connection")

	// Seeding through the admin surface adds the connections it names.
	if _, err := s.Emulator.CreateUsers([]SeedUser{{Email: "s@example.com", Connection: "Seeded-DB"}, {UserID: "google-oauth2|123", Email: "g@example.com"}}); err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, cn := range s.Emulator.Connections() {
		got[cn.Name] = cn.Strategy
	}
	if got["Seeded-DB"] != StrategyDatabase || got["google-oauth2"] != "google-oauth2" {
		t.Fatalf("seeded connections %v", got)
	}
}

func TestPasswordPolicy(t *testing.T) {
	cases := []struct {
		policy string
		ok     []string
		weak   []string
	}{
		{"", []string{"a"}, nil},
		{PolicyNone, []string{"1"}, nil},
		{PolicyLow, []string{"abcdef"}, []string{"abcde"}},
		{PolicyFair, []string{"abcDEF12", "Passw0rd"}, []string{"abcdefgh", "abcDEFGH", "abcdef12", "aB1"}},
		{PolicyGood, []string{"abcDEF12", "abcdef1!", "ABCDEF1!"}, []string{"abcdef12", "Ab1!"}},
		{PolicyExcellent, []string{"abcDEF123!", "aaBBcc11!!"}, []string{"abcDEF12!", "aaaBBB111!"}},
	}
	s := newStrictServer(t, Config{})
	c := newClient(t, s)
	n := 0
	for _, tc := range cases {
		if r := setKnobs(t, s, `{"password_policy":"`+tc.policy+`"}`); r.status != 200 {
			t.Fatalf("set policy %q: %d", tc.policy, r.status)
		}
		for _, pw := range tc.ok {
			n++
			b := createBody("u" + strconv.Itoa(n) + "@example.com")
			b["password"] = pw
			if r := c.do("POST", "/api/v2/users", b); r.status != 201 {
				t.Errorf("policy %q refused %q: %d %s", tc.policy, pw, r.status, r.body)
			}
		}
		for _, pw := range tc.weak {
			b := createBody("weak@example.com")
			b["password"] = pw
			m := wantAPIError(t, c.do("POST", "/api/v2/users", b), 400, "")
			if m["message"] != "PasswordStrengthError: Password is too weak" {
				t.Errorf("policy %q, password %q: message %q", tc.policy, pw, m["message"])
			}
		}
	}
	// PATCH /users/{id} applies the policy to a new password too.
	id := c.do("POST", "/api/v2/users", createBody("patch@example.com")).obj(t)["user_id"].(string)
	path := "/api/v2/users/" + url.PathEscape(id)
	m := wantAPIError(t, c.do("PATCH", path, map[string]any{"password": "short"}), 400, "")
	if !strings.HasPrefix(m["message"].(string), "PasswordStrengthError:") {
		t.Fatalf("patch weak password: %v", m["message"])
	}
	if r := c.do("PATCH", path, map[string]any{"password": "Much-Better-123"}); r.status != 200 {
		t.Fatalf("patch strong password: %d %s", r.status, r.body)
	}
	if r := setKnobs(t, s, `{"password_policy":"strong"}`); r.status != 400 {
		t.Fatalf("unknown policy accepted: %d", r.status)
	}
}

func TestPasswordOnlyForDatabaseConnections(t *testing.T) {
	s := newStrictServer(t, Config{Connections: []Connection{
		{Name: "email", Strategy: StrategyEmail}, {Name: "sms", Strategy: StrategySMS}, {Name: "google-oauth2", Strategy: "google-oauth2"},
	}})
	c := newClient(t, s)
	for _, body := range []map[string]any{
		{"connection": "email", "email": "e@example.com", "password": "Passw0rd!"},
		{"connection": "sms", "phone_number": "+14155550100", "password": "Passw0rd!"},
		{"connection": "google-oauth2", "email": "g@example.com", "password": "Passw0rd!"},
	} {
		m := wantAPIError(t, c.do("POST", "/api/v2/users", body), 400, "invalid_body")
		if !strings.Contains(m["message"].(string), "database connections") {
			t.Errorf("%v: message %q", body["connection"], m["message"])
		}
	}
	// Without a password, passwordless users are created (in their provider)...
	r := c.do("POST", "/api/v2/users", map[string]any{"connection": "email", "email": "E@example.com"})
	if r.status != 201 {
		t.Fatalf("passwordless email user: %d %s", r.status, r.body)
	}
	u := r.obj(t)
	ident := u["identities"].([]any)[0].(map[string]any)
	if id := u["user_id"].(string); !strings.HasPrefix(id, "email|") || ident["provider"] != "email" || ident["connection"] != "email" {
		t.Fatalf("passwordless user %s", r.body)
	}
	if r := c.do("POST", "/api/v2/users", map[string]any{"connection": "sms", "phone_number": "+14155550100"}); r.status != 201 || !strings.HasPrefix(r.obj(t)["user_id"].(string), "sms|") {
		t.Fatalf("sms user: %d %s", r.status, r.body)
	}
	// ... each with what its strategy needs; social users cannot be created.
	wantAPIError(t, c.do("POST", "/api/v2/users", map[string]any{"connection": "sms", "email": "x@example.com"}), 400, "invalid_body")
	wantAPIError(t, c.do("POST", "/api/v2/users", map[string]any{"connection": "google-oauth2", "email": "g@example.com"}), 400, "operation_not_supported")
	// A password cannot be set later either.
	m := wantAPIError(t, c.do("PATCH", "/api/v2/users/"+url.PathEscape(u["user_id"].(string)), map[string]any{"password": "Passw0rd!"}), 400, "invalid_body")
	if !strings.Contains(m["message"].(string), "database connections") {
		t.Fatalf("patch password on passwordless: %q", m["message"])
	}
}

func TestFormBodies(t *testing.T) {
	s := newStrictServer(t, Config{})
	c := newClient(t, s)
	r := c.doForm("POST", "/api/v2/users", url.Values{
		"connection": {DefaultConnection}, "email": {"Form@Example.com"}, "password": {"Passw0rd!"},
		"email_verified": {"true"}, "blocked": {"false"}, "given_name": {"Form"},
		"user_metadata[plan]": {"pro"}, "user_metadata[team][name]": {"blue"},
	})
	if r.status != 201 {
		t.Fatalf("form create: %d %s", r.status, r.body)
	}
	u := r.obj(t)
	um, _ := u["user_metadata"].(map[string]any)
	team, _ := um["team"].(map[string]any)
	if u["email"] != "form@example.com" || u["email_verified"] != true || u["blocked"] != false || u["given_name"] != "Form" || um["plan"] != "pro" || team["name"] != "blue" {
		t.Fatalf("form create stored %s", r.body)
	}
	path := "/api/v2/users/" + url.PathEscape(u["user_id"].(string))
	r = c.doForm("PATCH", path, url.Values{"app_metadata[tier]": {"gold"}, "family_name": {"Body"}, "user_metadata[plan]": {"team"}})
	if r.status != 200 {
		t.Fatalf("form patch: %d %s", r.status, r.body)
	}
	u = r.obj(t)
	am, _ := u["app_metadata"].(map[string]any)
	um, _ = u["user_metadata"].(map[string]any)
	if am["tier"] != "gold" || u["family_name"] != "Body" || um["plan"] != "team" || um["team"] == nil {
		t.Fatalf("form patch stored %s", r.body)
	}

	// Invalid forms get the same answers as invalid JSON (a server without
	// request validation: these requests break the spec on purpose).
	loose := newTestServer(t, Config{})
	lc := newClient(t, loose)
	for _, tc := range []struct {
		form url.Values
		code string
		name string
	}{
		{url.Values{"connection": {DefaultConnection}, "email": {"b@example.com"}, "password": {"x"}, "blocked": {"maybe"}}, "invalid_body", "blocked"},
		{url.Values{"connection": {DefaultConnection}, "email": {"b@example.com"}, "password": {"x"}, "shoe_size": {"44"}}, "invalid_body", "shoe_size"},
		{url.Values{"connection": {DefaultConnection}, "email": {"b@example.com"}, "password": {"x"}, "user_metadata": {"flat"}}, "invalid_body", "user_metadata"},
		{url.Values{"connection": {"Nope"}, "email": {"b@example.com"}, "password": {"x"}}, "inexistent_connection", ""},
	} {
		m := wantAPIError(t, lc.doForm("POST", "/api/v2/users", tc.form), 400, tc.code)
		if !strings.Contains(m["message"].(string), tc.name) {
			t.Errorf("%v: message %q does not name %q", tc.form, m["message"], tc.name)
		}
	}
}

// A deleted user leaves search results only after the index lag; get-by-id
// and users-by-email forget it at once.
func TestDeletedUserLeavesSearchAfterLag(t *testing.T) {
	synctest.Test(t, testDeletedUserLeavesSearchAfterLag)
}

func testDeletedUserLeavesSearchAfterLag(t *testing.T) {
	s := newMemStrictServer(t, Config{Knobs: Knobs{IndexLag: 2 * time.Second}})
	c := newClient(t, s)
	created := time.Now().Add(-time.Hour)
	seed := []SeedUser{{UserID: "auth0|gone", Email: "gone@example.com", CreatedAt: created, Indexed: true}}
	if _, err := s.Emulator.CreateUsers(seed); err != nil {
		t.Fatal(err)
	}
	search := func() []any {
		t.Helper()
		r := c.do("GET", "/api/v2/users?q="+url.QueryEscape(`email:"gone@example.com"`)+"&search_engine=v3", nil)
		if r.status != 200 {
			t.Fatalf("search: %d %s", r.status, r.body)
		}
		return r.arr(t)
	}
	if n := len(search()); n != 1 {
		t.Fatalf("before delete: %d results", n)
	}
	if r := c.do("DELETE", "/api/v2/users/auth0%7Cgone", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	wantAPIError(t, c.do("GET", "/api/v2/users/auth0%7Cgone", nil), 404, "inexistent_user")
	if r := c.do("GET", "/api/v2/users-by-email?email=gone%40example.com", nil); len(r.arr(t)) != 0 {
		t.Fatalf("users-by-email after delete: %s", r.body)
	}
	time.Sleep(1900 * time.Millisecond)
	if got := search(); len(got) != 1 || got[0].(map[string]any)["user_id"] != "auth0|gone" {
		t.Fatalf("within the lag the index still holds the user: %v", got)
	}
	// Re-created under the same id and created_at meanwhile: the tombstone
	// and the new user share their place in the index.
	if _, err := s.Emulator.CreateUsers(seed); err != nil {
		t.Fatal(err)
	}
	if n := len(search()); n != 2 {
		t.Fatalf("tombstone and re-created user: %d results, want 2", n)
	}
	// Without lag the second one leaves at once, before the first.
	s.Emulator.SetKnobs(func(k *Knobs) { k.IndexLag = 0 })
	s.Emulator.DeleteUser("auth0|gone")
	if n := len(search()); n != 1 {
		t.Fatalf("after deleting the re-created user without lag: %d results, want the first tombstone", n)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(search()); n != 0 {
		t.Fatalf("after the first lag: %d results", n)
	}
	// The next change purges the tombstones from the index.
	if _, err := s.Emulator.CreateUsers([]SeedUser{{Email: "other@example.com"}}); err != nil {
		t.Fatal(err)
	}
	s.Emulator.store.mu.RLock()
	left, gone := len(s.Emulator.store.sorted), len(s.Emulator.store.gone)
	s.Emulator.store.mu.RUnlock()
	if left != 1 || gone != 0 {
		t.Fatalf("index holds %d users and %d tombstones, want 1 and 0", left, gone)
	}
}

func TestTokenRateLimitHeaders(t *testing.T) { synctest.Test(t, testTokenRateLimitHeaders) }

func testTokenRateLimitHeaders(t *testing.T) {
	s := newMemStrictServer(t, Config{})
	c := &tclient{t: t, s: s}
	token := func() *http.Response {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "audience": {s.URL + "/api/v2/"}}
		resp, err := s.Client.PostForm(s.URL+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Unlimited: the headers are there anyway.
	resp := token()
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") == "" || resp.Header.Get("X-RateLimit-Remaining") == "" || resp.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("unlimited token answer %d, headers %v", resp.StatusCode, resp.Header)
	}
	if r := setKnobs(t, s, `{"token_rate_limit":1,"token_rate_burst":2}`); r.status != 200 {
		t.Fatalf("knobs: %d", r.status)
	}
	for i, want := range []string{"1", "0"} {
		resp := token()
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != want {
			t.Fatalf("token %d: %d, limit %q remaining %q", i, resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining"))
		}
	}
	resp = token()
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || reset != time.Now().Unix()+1 {
		t.Fatalf("over the limit: %d, Retry-After %q, reset %d (now %d)", resp.StatusCode, resp.Header.Get("Retry-After"), reset, time.Now().Unix())
	}
	time.Sleep(time.Second)
	if resp := token(); resp.StatusCode != 200 {
		t.Fatalf("after the reset: %d", resp.StatusCode)
	}
	// The Management API keeps its own bucket.
	c.token = s.Emulator.IssueToken(s.ClientID)
	if r := c.do("GET", "/api/v2/users", nil); r.status != 200 {
		t.Fatalf("management API limited by the token bucket: %d", r.status)
	}
}

// The Events API's timeout and connection_timeout: a terminal event: error
// carrying the offset to reconnect from, which resumes the stream.
func TestEventsTimeoutCodes(t *testing.T) {
	v := contract.Load(t)
	for _, code := range []string{EventsErrorTimeout, EventsErrorConnectionTimeout} {
		t.Run(code, func(t *testing.T) {
			s := newTestServer(t, Config{Knobs: Knobs{EventsErrorAfter: 300 * time.Millisecond, EventsErrorCode: code, EventsHeartbeat: time.Hour}})
			api := newClient(t, s)
			base := s.events()
			c, body := evOpen(t, base, evReq{token: api.token})
			if body != nil {
				t.Fatalf("GET /api/v2/events: %d %s", c.resp.StatusCode, body)
			}
			c.next(t, func(m auth0.SSEMessage) bool { return m.Retry > 0 })
			if r := api.do("POST", "/api/v2/users", createBody("before@example.com")); r.status != 201 {
				t.Fatalf("create: %d", r.status)
			}
			rest := c.waitEnd(t)
			if len(rest) != 2 || rest[0].Event != "user.created" || rest[1].Event != "error" {
				t.Fatalf("stream ended with %+v, want the event then event: error", rest)
			}
			d := evDecode(t, rest[1])
			if d.Error == nil || d.Error.Code != code || d.Error.Offset == "" {
				t.Fatalf("error payload %s", rest[1].Data)
			}
			if err := v.ValidateSchema(evSchema, evWithType(t, rest[1])); err != nil {
				t.Fatalf("error payload does not match %s: %v", evSchema, err)
			}
			// Reconnecting from the error's offset misses nothing after it.
			if r := api.do("POST", "/api/v2/users", createBody("after@example.com")); r.status != 201 {
				t.Fatalf("create: %d", r.status)
			}
			c, body = evOpen(t, base, evReq{token: api.token, lastEventID: d.Error.Offset})
			if body != nil {
				t.Fatalf("resume: %d %s", c.resp.StatusCode, body)
			}
			m := c.next(t, evIsEvent)
			if m.Event != "user.created" || !strings.Contains(m.Data, "after@example.com") {
				t.Fatalf("resumed stream starts with %s %s, want the user created after the error", m.Event, m.Data)
			}
		})
	}
	s := startServer(t, Config{})
	if r := setKnobs(t, s, `{"events_error_code":"payload_too_large"}`); r.status != 400 {
		t.Fatalf("unsupported events_error_code accepted: %d", r.status)
	}
}

// A search that would run longer than Auth0's limit answers 503 once the
// limit has passed; a quicker one answers normally after its run time.
func TestSearchTimeout(t *testing.T) {
	s := newStrictServer(t, Config{Knobs: Knobs{SearchDuration: 5 * time.Second, SearchTimeout: 100 * time.Millisecond}})
	c := newClient(t, s)
	start := time.Now()
	m := wantAPIError(t, c.do("GET", "/api/v2/users?q="+url.QueryEscape("email:a*")+"&search_engine=v3", nil), 503, "")
	if took := time.Since(start); took < 100*time.Millisecond || took > 4*time.Second {
		t.Fatalf("503 after %v, want after the 100ms timeout, long before the 5s run time", took)
	}
	if !strings.Contains(m["message"].(string), "timed out") {
		t.Fatalf("message %q", m["message"])
	}
	// Only searches: get-by-id is not slowed.
	if r := c.do("GET", "/api/v2/users-by-email?email=a%40example.com", nil); r.status != 200 {
		t.Fatalf("users-by-email: %d", r.status)
	}
	s.Emulator.SetKnobs(func(k *Knobs) { k.SearchDuration, k.SearchTimeout = 50*time.Millisecond, 0 })
	start = time.Now()
	if r := c.do("GET", "/api/v2/users?q="+url.QueryEscape("email:a*"), nil); r.status != 200 {
		t.Fatalf("quick search: %d %s", r.status, r.body)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("search answered after %v, before its 50ms run time", took)
	}
	// A client that gives up is not answered (logged as 499).
	s.Emulator.SetKnobs(func(k *Knobs) { k.SearchDuration, k.SearchTimeout = time.Hour, time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v2/users", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a search running an hour answered")
	}
}
