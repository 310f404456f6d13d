package auth0_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
)

func TestRawRefusesUnsafeCallsBeforeSending(t *testing.T) {
	env := newEnv(t, emulator.Config{}, func(c *auth0.Config) { c.APICallAllow = []string{"GET *", "POST *"} })
	ctx := context.Background()
	cases := []struct {
		name string
		req  auth0.RawRequest
		want error
	}{
		{"absolute URL", auth0.RawRequest{Method: "GET", Path: "https://other.host/x"}, auth0.ErrInvalidPath},
		{"scheme without slash", auth0.RawRequest{Method: "GET", Path: "http:other.host"}, auth0.ErrInvalidPath},
		{"network-path reference", auth0.RawRequest{Method: "GET", Path: "//other.host/x"}, auth0.ErrInvalidPath},
		{"double slash inside", auth0.RawRequest{Method: "GET", Path: "/users//x"}, auth0.ErrInvalidPath},
		{"dot dot", auth0.RawRequest{Method: "POST", Path: "/../oauth/token"}, auth0.ErrInvalidPath},
		{"encoded dot dot", auth0.RawRequest{Method: "POST", Path: "/%2e%2e/oauth/token"}, auth0.ErrInvalidPath},
		{"mixed encoded dot dot", auth0.RawRequest{Method: "POST", Path: "/%2E./oauth/token"}, auth0.ErrInvalidPath},
		{"half encoded dot dot", auth0.RawRequest{Method: "POST", Path: "/users/.%2e/.%2E/oauth/token"}, auth0.ErrInvalidPath},
		{"double encoded dot dot", auth0.RawRequest{Method: "POST", Path: "/%252e%252e/oauth/token"}, auth0.ErrInvalidPath},
		{"encoded slash dot dot", auth0.RawRequest{Method: "POST", Path: "/users%2f..%2f..%2foauth/token"}, auth0.ErrInvalidPath},
		{"backslash", auth0.RawRequest{Method: "GET", Path: `/users\..\oauth`}, auth0.ErrInvalidPath},
		{"lone backslash", auth0.RawRequest{Method: "GET", Path: `\`}, auth0.ErrInvalidPath},
		{"encoded backslash", auth0.RawRequest{Method: "GET", Path: "/users%5c..%5Coauth"}, auth0.ErrInvalidPath},
		{"NUL", auth0.RawRequest{Method: "GET", Path: "/users\x00"}, auth0.ErrInvalidPath},
		{"encoded NUL", auth0.RawRequest{Method: "GET", Path: "/users%00"}, auth0.ErrInvalidPath},
		{"CRLF", auth0.RawRequest{Method: "GET", Path: "/users\r\nHost: other.host"}, auth0.ErrInvalidPath},
		{"LF", auth0.RawRequest{Method: "GET", Path: "/users\n"}, auth0.ErrInvalidPath},
		{"encoded CRLF", auth0.RawRequest{Method: "GET", Path: "/users%0d%0aHost:%20x"}, auth0.ErrInvalidPath},
		{"tab", auth0.RawRequest{Method: "GET", Path: "/users\t"}, auth0.ErrInvalidPath},
		{"CRLF in query", auth0.RawRequest{Method: "GET", Path: "/users?q=a%0d%0ab"}, auth0.ErrInvalidPath},
		{"CRLF in Query", auth0.RawRequest{Method: "GET", Path: "/users", Query: map[string][]string{"q": {"a\r\nb"}}}, auth0.ErrInvalidPath},
		{"relative", auth0.RawRequest{Method: "GET", Path: "users"}, auth0.ErrInvalidPath},
		{"empty", auth0.RawRequest{Method: "GET", Path: ""}, auth0.ErrInvalidPath},
		{"Authorization header", auth0.RawRequest{Method: "GET", Path: "/users", Headers: map[string]string{"Authorization": "Bearer stolen"}}, auth0.ErrForbiddenHeader},
		{"authorization lower case", auth0.RawRequest{Method: "GET", Path: "/users", Headers: map[string]string{"authorization": "x"}}, auth0.ErrForbiddenHeader},
		{"Host header", auth0.RawRequest{Method: "GET", Path: "/users", Headers: map[string]string{"Host": "other.host"}}, auth0.ErrForbiddenHeader},
		{"header with CRLF", auth0.RawRequest{Method: "GET", Path: "/users", Headers: map[string]string{"Accept": "x\r\nHost: y"}}, auth0.ErrForbiddenHeader},
		{"not allowed method", auth0.RawRequest{Method: "DELETE", Path: "/users/x"}, auth0.ErrNotAllowed},
		{"lower-case method", auth0.RawRequest{Method: "get", Path: "/users"}, auth0.ErrInvalidRequest},
		{"bad JSON body", auth0.RawRequest{Method: "POST", Path: "/users", Body: json.RawMessage(`{`)}, auth0.ErrInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.c.Raw(ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "stolen") {
				t.Fatalf("error echoes a header value: %v", err)
			}
		})
	}
	if reqs := env.emu.Requests(); len(reqs) != 0 {
		t.Fatalf("%d requests reached the emulator: %+v", len(reqs), reqs)
	}
}

func okServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRawAllowlist(t *testing.T) {
	srv := okServer(t)
	c, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "a", ClientSecret: "b",
		APICallAllow: []string{"GET /users", "GET /users/*/roles", "POST /users"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		method, path string
		ok           bool
	}{
		{"GET", "/users", true},
		{"GET", "/users/", true}, // cleaned
		{"GET", "/users/auth0%7C1/roles", true},
		{"GET", "/users/a/b/roles", true}, // * spans '/'
		{"GET", "/users/a%2Fb/roles", true},
		{"GET", "/users/auth0%7C1", false},
		{"GET", "/users/auth0%7C1/roles/x", false},
		{"PATCH", "/users", false},
		{"GET", "/logs", false},
		{"GET", "/Users", false},
	} {
		_, err := c.Raw(ctx, auth0.RawRequest{Method: tc.method, Path: tc.path})
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, auth0.ErrNotAllowed) {
			t.Errorf("%s %s: err = %v, want allowed=%v", tc.method, tc.path, err, tc.ok)
		}
	}
	empty, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "a", ClientSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.Raw(ctx, auth0.RawRequest{Method: "GET", Path: "/users"}); !errors.Is(err, auth0.ErrNotAllowed) {
		t.Fatalf("empty allowlist: %v", err)
	}
	for _, bad := range []string{"get /users", "GET users", "GET", "GET /a /b", "FETCH /users"} {
		if _, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "a", ClientSecret: "b", APICallAllow: []string{bad}}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("rule %q accepted or not named: %v", bad, err)
		}
	}
}

func TestRawAgainstEmulator(t *testing.T) {
	env := newEnv(t, emulator.Config{}, nil)
	ctx := context.Background()
	res, err := env.c.Raw(ctx, auth0.RawRequest{Method: "POST", Path: "/users", Body: json.RawMessage(`{"connection":"Username-Password-Authentication","email":"raw@example.com","password":"Passw0rd!x"}`), Headers: map[string]string{"X-Correlation-ID": "abc", "X-Evil": "1"}})
	if err != nil || res.Status != 201 {
		t.Fatalf("create: %+v, %v", res, err)
	}
	var u auth0.User
	if err := json.Unmarshal(res.Body, &u); err != nil || u.Email != "raw@example.com" {
		t.Fatalf("body %s: %v", res.Body, err)
	}
	if res.Headers["X-Ratelimit-Remaining"] == "" || !strings.HasPrefix(res.Headers["Content-Type"], "application/json") {
		t.Fatalf("headers %v", res.Headers)
	}
	res, err = env.c.Raw(ctx, auth0.RawRequest{Method: "GET", Path: "/users?q=email:%22raw@example.com%22", Query: map[string][]string{"search_engine": {"v3"}}})
	if err != nil || res.Status != 200 {
		t.Fatalf("search: %+v, %v", res, err)
	}
	// Auth0's errors come back as answers, not Go errors.
	res, err = env.c.Raw(ctx, auth0.RawRequest{Method: "GET", Path: "/users/auth0%7Cnope"})
	if err != nil || res.Status != 404 || !strings.Contains(string(res.Body), "inexistent_user") {
		t.Fatalf("404: %+v, %v", res, err)
	}
	res, err = env.c.Raw(ctx, auth0.RawRequest{Method: "PATCH", Path: "/users/" + auth0.EscapeID(u.UserID), Body: json.RawMessage(`{"user_id":"x"}`)})
	if err != nil || res.Status != 400 {
		t.Fatalf("400: %+v, %v", res, err)
	}
}

func TestRawRedactsClientSecretAndWrapsText(t *testing.T) {
	var replies = map[string]struct {
		ct, body string
	}{
		"/api/v2/clients":  {"application/json", `{"name":"a","client_secret":"S1","nested":[{"Client_Secret":"S2","client\u005fsecret":"S3","x":1.50}],"n":12345678901234567890}`},
		"/api/v2/text":     {"text/plain", "plain <text> \"quoted\""},
		"/api/v2/empty":    {"", ""},
		"/api/v2/noclient": {"application/json", `{"a":[1,2,{"b":null}]}`},
	}
	var sawAuth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		rep := replies[r.URL.Path]
		if rep.ct != "" {
			w.Header().Set("Content-Type", rep.ct)
		}
		_, _ = w.Write([]byte(rep.body))
	}))
	defer srv.Close()
	c, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "sec", APICallAllow: []string{"GET *"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(p string) string {
		res, err := c.Raw(ctx, auth0.RawRequest{Method: "GET", Path: p})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !json.Valid(res.Body) {
			t.Fatalf("%s: body not JSON: %s", p, res.Body)
		}
		return string(res.Body)
	}
	got := get("/clients")
	for _, s := range []string{"S1", "S2", "S3"} {
		if strings.Contains(got, s) {
			t.Fatalf("secret %s not redacted: %s", s, got)
		}
	}
	if want := `{"name":"a","client_secret":"[redacted]","nested":[{"Client_Secret":"[redacted]","client_secret":"[redacted]","x":1.50}],"n":12345678901234567890}`; got != want {
		t.Fatalf("redacted body\n got %s\nwant %s", got, want)
	}
	if got := get("/text"); got != `"plain \u003ctext\u003e \"quoted\""` {
		t.Fatalf("text body %s", got)
	}
	if got := get("/empty"); got != "null" {
		t.Fatalf("empty body %s", got)
	}
	if got := get("/noclient"); got != `{"a":[1,2,{"b":null}]}` {
		t.Fatalf("plain JSON changed: %s", got)
	}
	for _, a := range sawAuth {
		if a != "Bearer tok" {
			t.Fatalf("Authorization %q", a)
		}
	}
}

func TestCheckAPIPath(t *testing.T) {
	for _, p := range []string{"/users", "/users/auth0%7C123", "/users/auth0|123/roles", "/users?q=a:b&per_page=1", "/logs", "/users/a%20b", "/users/a%2Fb", "/users/.x", "/users/x."} {
		if err := auth0.CheckAPIPath(p); err != nil {
			t.Errorf("CheckAPIPath(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"https://other.host/x": "scheme", "//h/x": "//", "/../x": "..", "/%2e%2e/x": "..", "/./x": ".",
		`\`: "start with /", "/a\\b": "backslash", "/a%5cb": "backslash", "/a\x00": "NUL", "/a%00": "NUL",
		"/a\r\n": "CR or LF", "/a%0A": "CR or LF", "/a\x7f": "control", "/a#b": "fragment", "/a b": "space",
		"/é": "non-ASCII", "/a%zz": "percent-encoding", "": "empty", "/a?b=%00": "control",
	} {
		err := auth0.CheckAPIPath(p)
		if !errors.Is(err, auth0.ErrInvalidPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckAPIPath(%q) = %v, want a message with %q", p, err, want)
		}
	}
}

// FuzzCheckAPIPath: whatever passes the rules is a plain path under /api/v2
// after the decoding a server might apply, once or twice.
func FuzzCheckAPIPath(f *testing.F) {
	for _, s := range []string{"/users", "/users/auth0%7C1", "/../oauth/token", "/%2e%2e/oauth/token", "//h/x", "https://h/x",
		`\`, "/a%00", "/a\r\nb", "/users?q=x", "/%252e%252e/x", "/users/.%2E/x", "/a%5c", "/users%2f..%2fx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if auth0.CheckAPIPath(p) != nil {
			return
		}
		path, _, _ := strings.Cut(p, "?")
		layer := path
		for i := 0; i < 3; i++ {
			if !strings.HasPrefix(layer, "/") && i == 0 {
				t.Fatalf("accepted %q: not absolute", p)
			}
			if strings.Contains(layer, "//") || strings.Contains(layer, `\`) || strings.ContainsAny(layer, "\x00\r\n#") {
				t.Fatalf("accepted %q: layer %d is %q", p, i, layer)
			}
			for _, seg := range strings.Split(layer, "/") {
				if seg == ".." || seg == "." {
					t.Fatalf("accepted %q: dot segment at layer %d", p, i)
				}
			}
			next, err := urlUnescape(layer)
			if err != nil || next == layer {
				break
			}
			layer = next
		}
		u := "http://tenant.example" + "/api/v2" + path
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			return // not even a URL: never sent
		}
		if req.URL.Host != "tenant.example" {
			t.Fatalf("accepted %q: host became %q", p, req.URL.Host)
		}
	})
}
