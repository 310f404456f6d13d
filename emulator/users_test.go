package emulator

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var idPattern = regexp.MustCompile(`^auth0\|[0-9a-f]{24}$`)
var tsPattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func TestCreateGetPatchDelete(t *testing.T) {
	s := newTestServer(t, Config{Connections: []Connection{{Name: "Other-DB"}}})
	c := newClient(t, s)

	r := c.do("POST", "/api/v2/users", createBody("Chuck@Example.COM"))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	u := r.obj(t)
	id := u["user_id"].(string)
	if !idPattern.MatchString(id) {
		t.Fatalf("user_id %q", id)
	}
	if u["email"] != "chuck@example.com" || u["name"] != "chuck@example.com" || u["nickname"] != "chuck" || u["email_verified"] != false {
		t.Fatalf("defaults wrong: %s", r.body)
	}
	if !tsPattern.MatchString(u["created_at"].(string)) || u["created_at"] != u["updated_at"] {
		t.Fatalf("timestamps: %s", r.body)
	}
	ident := u["identities"].([]any)[0].(map[string]any)
	if ident["user_id"] != strings.TrimPrefix(id, "auth0|") || ident["provider"] != "auth0" || ident["isSocial"] != false || ident["connection"] != DefaultConnection {
		t.Fatalf("identity: %v", ident)
	}
	if _, ok := u["password"]; ok {
		t.Fatal("password echoed")
	}

	// Same email (any case) in the same connection: 409.
	wantAPIError(t, c.do("POST", "/api/v2/users", createBody("CHUCK@example.com")), 409, "auth0_idp_error")
	// Same email in another connection is fine.
	other := createBody("chuck@example.com")
	other["connection"] = "Other-DB"
	if r := c.do("POST", "/api/v2/users", other); r.status != 201 {
		t.Fatalf("other connection: %d %s", r.status, r.body)
	}

	esc := "/api/v2/users/" + url.PathEscape(id)
	if !strings.Contains(esc, "%7C") {
		t.Fatalf("escape: %s", esc)
	}
	g := c.do("GET", esc, nil)
	if g.status != 200 || string(g.body) != string(r.body) {
		t.Fatalf("get: %d %s", g.status, g.body)
	}

	p := c.do("PATCH", esc, map[string]any{"user_metadata": map[string]any{"a": 1, "b": "x"}, "app_metadata": map[string]any{"plan": "pro"}})
	if p.status != 200 {
		t.Fatalf("patch: %d %s", p.status, p.body)
	}
	p = c.do("PATCH", esc, map[string]any{"user_metadata": map[string]any{"a": nil, "c": true}, "given_name": "Chuck"})
	pu := p.obj(t)
	um := pu["user_metadata"].(map[string]any)
	if _, ok := um["a"]; ok || um["b"] != "x" || um["c"] != true || pu["given_name"] != "Chuck" {
		t.Fatalf("merge: %s", p.body)
	}
	if pu["app_metadata"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("app_metadata lost: %s", p.body)
	}
	p = c.do("PATCH", esc, map[string]any{"app_metadata": map[string]any{}})
	if _, ok := p.obj(t)["app_metadata"]; ok {
		t.Fatalf("{} should clear: %s", p.body)
	}
	for _, ro := range []string{"user_id", "created_at", "identities"} {
		wantAPIError(t, c.do("PATCH", esc, map[string]any{ro: "x"}), 400, "invalid_body")
	}
	wantAPIError(t, c.do("PATCH", esc, map[string]any{"password": "abc", "email": "n@example.com"}), 400, "operation_not_supported")
	wantAPIError(t, c.do("PATCH", "/api/v2/users/auth0%7Cnope", map[string]any{"name": "x"}), 404, "inexistent_user")
	wantAPIError(t, c.do("GET", "/api/v2/users/auth0%7Cnope", nil), 404, "inexistent_user")

	be := c.do("GET", "/api/v2/users-by-email?email="+url.QueryEscape("CHUCK@example.com"), nil)
	if n := len(be.arr(t)); be.status != 200 || n != 2 {
		t.Fatalf("by email: %d %s", be.status, be.body)
	}
	if be := c.do("GET", "/api/v2/users-by-email?email=nobody%40example.com", nil); string(be.body) != "[]" {
		t.Fatalf("by email none: %s", be.body)
	}
	wantAPIError(t, c.do("GET", "/api/v2/users-by-email", nil), 400, "invalid_query_string")

	if d := c.do("DELETE", esc, nil); d.status != 204 || len(d.body) != 0 {
		t.Fatalf("delete: %d %s", d.status, d.body)
	}
	if d := c.do("DELETE", esc, nil); d.status != 204 {
		t.Fatalf("delete again: %d", d.status)
	}
	wantAPIError(t, c.do("GET", esc, nil), 404, "inexistent_user")
	if s.Emulator.UserCount() != 1 {
		t.Fatalf("count %d", s.Emulator.UserCount())
	}
}

func TestCreateValidation(t *testing.T) {
	s := newTestServer(t, Config{})
	c := newClient(t, s)
	cases := []struct {
		name string
		body any
		want string // substring of the message
	}{
		{"no connection", map[string]any{"email": "a@example.com", "password": "x"}, "connection"},
		{"unknown", map[string]any{"connection": "c", "email": "a@example.com", "password": "x", "foo": 1}, "foo"},
		{"bad email", map[string]any{"connection": "c", "email": "nope", "password": "x"}, "email"},
		{"bad phone", map[string]any{"connection": "c", "email": "a@example.com", "password": "x", "phone_number": "12"}, "phone_number"},
		{"long name", map[string]any{"connection": "c", "email": "a@example.com", "password": "x", "name": strings.Repeat("n", 301)}, "name"},
		{"long given", map[string]any{"connection": "c", "email": "a@example.com", "password": "x", "given_name": strings.Repeat("n", 151)}, "given_name"},
		{"long username", map[string]any{"connection": "c", "email": "a@example.com", "password": "x", "username": strings.Repeat("n", 129)}, "username"},
		{"wrong type", map[string]any{"connection": "c", "email": 5, "password": "x"}, "email"},
		{"no password", map[string]any{"connection": DefaultConnection, "email": "a@example.com"}, "password"},
		{"not json", "{", "JSON"},
		{"array", "[]", "object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := wantAPIError(t, c.do("POST", "/api/v2/users", tc.body), 400, "invalid_body")
			if !strings.Contains(m["message"].(string), tc.want) {
				t.Fatalf("message %q does not name %q", m["message"], tc.want)
			}
		})
	}
	// A given user_id becomes auth0|<id>; the same id again is a conflict.
	b := createBody("given@example.com")
	b["user_id"] = "my-own-id"
	r := c.do("POST", "/api/v2/users", b)
	if r.status != 201 || r.obj(t)["user_id"] != "auth0|my-own-id" {
		t.Fatalf("given id: %d %s", r.status, r.body)
	}
	b["email"] = "given2@example.com"
	wantAPIError(t, c.do("POST", "/api/v2/users", b), 409, "auth0_idp_error")
	if s.Emulator.UserCount() != 1 {
		t.Fatalf("count %d", s.Emulator.UserCount())
	}
}

func TestListPlain(t *testing.T) {
	s := newTestServer(t, Config{})
	c := newClient(t, s)
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	var seeds []SeedUser
	for i := 0; i < 25; i++ {
		seeds = append(seeds, SeedUser{Email: fmt.Sprintf("u%02d@example.com", i), CreatedAt: base.Add(time.Duration(i) * time.Second)})
	}
	if _, err := s.Emulator.CreateUsers(seeds); err != nil {
		t.Fatal(err)
	}
	r := c.do("GET", "/api/v2/users?per_page=10&page=2&include_totals=true", nil)
	m := r.obj(t)
	if m["start"] != 20.0 || m["limit"] != 10.0 || m["length"] != 5.0 || m["total"] != 25.0 || len(m["users"].([]any)) != 5 {
		t.Fatalf("totals: %s", r.body)
	}
	r = c.do("GET", "/api/v2/users?per_page=3", nil)
	if len(r.arr(t)) != 3 {
		t.Fatalf("plain: %s", r.body)
	}
	wantAPIError(t, c.do("GET", "/api/v2/users?per_page=101", nil), 400, "invalid_query_string")
	m2 := wantAPIError(t, c.do("GET", "/api/v2/users?per_page=100&page=10", nil), 400, "invalid_paging")
	if m2["message"] != msgInvalidPage {
		t.Fatalf("message %v", m2["message"])
	}
	wantAPIError(t, c.do("GET", "/api/v2/users?per_page=100&page=4611686018427387904", nil), 400, "invalid_paging")
	if r := c.do("GET", "/api/v2/users?per_page=0&page=4611686018427387904", nil); r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("per_page 0: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/api/v2/users?per_page=100&page=9", nil); r.status != 200 {
		t.Fatalf("page 9: %d %s", r.status, r.body)
	}
	r = c.do("GET", "/api/v2/users?per_page=1&fields=user_id,email&include_fields=true", nil)
	u := r.arr(t)[0].(map[string]any)
	if len(u) != 2 || u["email"] != "u00@example.com" {
		t.Fatalf("fields: %s", r.body)
	}
}
