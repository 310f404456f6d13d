package contract

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const recordedPage = `{"start":0,"limit":100,"length":1,"users":[{"created_at":"2023-10-30T20:24:45.094Z","email":"first@user.com","email_verified":false,"identities":[{"connection":"Username-Password-Authentication","user_id":"6540110deb764e4ff133126b","provider":"auth0","isSocial":false}],"name":"first@user.com","nickname":"first","picture":"https://s.gravatar.com/avatar/x","updated_at":"2023-10-30T20:24:45.094Z","user_id":"auth0|6540110deb764e4ff133126b"}],"total":1}`

func resp(status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Body: io.NopCloser(strings.NewReader(body))}
}

func TestResponses(t *testing.T) {
	v := Load(t)
	req := httptest.NewRequest("GET", "https://tenant.auth0.com/api/v2/users?include_totals=true&per_page=100", nil)
	req.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateResponse(req, resp(200, recordedPage)); err != nil {
		t.Fatalf("recorded page rejected: %v", err)
	}
	bad := strings.Replace(recordedPage, `"isSocial":false`, `"isSocial":"no"`, 1)
	err := v.ValidateResponse(req, resp(200, bad))
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("malformed page accepted: %v", err)
	}
	extra := strings.Replace(recordedPage, `"total":1`, `"total":1,"next":"x"`, 1)
	if err := v.ValidateResponse(req, resp(200, extra)); err == nil {
		t.Fatal("unknown key in the paginated object accepted")
	}
	// The body is put back.
	r := resp(200, recordedPage)
	_ = v.ValidateResponse(req, r)
	if b, _ := io.ReadAll(r.Body); string(b) != recordedPage {
		t.Fatal("body not restored")
	}
	// Local paths (as a server sees them) work too.
	local := httptest.NewRequest("GET", "/api/v2/users-by-email?email=a%40b.co", nil)
	local.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateResponse(local, resp(200, `[]`)); err != nil {
		t.Fatalf("by-email: %v", err)
	}
}

func TestRequests(t *testing.T) {
	v := Load(t)
	body := `{"connection":"Username-Password-Authentication","email":"a@example.com","password":"x"}`
	req := httptest.NewRequest("POST", "https://tenant.auth0.com/api/v2/users", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateRequest(req); err != nil {
		t.Fatalf("valid create rejected: %v", err)
	}
	if b, _ := io.ReadAll(req.Body); string(b) != body {
		t.Fatal("request body not restored")
	}
	bad := httptest.NewRequest("POST", "https://tenant.auth0.com/api/v2/users", strings.NewReader(`{"email":"a@example.com","foo":1}`))
	bad.Header.Set("Content-Type", "application/json")
	bad.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateRequest(bad); !errors.Is(err, ErrMismatch) {
		t.Fatalf("invalid create accepted: %v", err)
	}
	pp := httptest.NewRequest("GET", "https://tenant.auth0.com/api/v2/users?per_page=500", nil)
	pp.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateRequest(pp); err == nil {
		t.Fatal("per_page 500 accepted")
	}
}

func TestSchemaPayload(t *testing.T) {
	v := Load(t)
	if err := v.ValidateSchema("EventStreamSubscribeEventsResponseContent", []byte(`{"type":"offset-only","offset":"abc"}`)); err != nil {
		t.Fatalf("offset-only: %v", err)
	}
	if err := v.ValidateSchema("EventStreamSubscribeEventsResponseContent", []byte(`{"type":"offset-only","offset":5}`)); err == nil {
		t.Fatal("numeric offset accepted")
	}
	if err := v.ValidateSchema("NoSuchSchema", []byte(`{}`)); err == nil {
		t.Fatal("unknown schema accepted")
	}
}

func TestErrorShapes(t *testing.T) {
	good := `{"statusCode":404,"error":"Not Found","message":"The user does not exist.","errorCode":"inexistent_user"}`
	if err := APIErrorShape(404, []byte(good)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"statusCode":400,"error":"Not Found","message":"x"}`,
		`{"statusCode":404,"error":"Bad Request","message":"x"}`,
		`{"statusCode":404,"error":"Not Found"}`,
		`{"statusCode":404,"error":"Not Found","message":"x","extra":1}`,
		`{"statusCode":404,"error":"Not Found","message":"x","errorCode":3}`,
		`not json`,
	} {
		if err := APIErrorShape(404, []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if err := OAuthErrorShape([]byte(`{"error":"access_denied","error_description":"Unauthorized"}`)); err != nil {
		t.Fatal(err)
	}
	if err := OAuthErrorShape([]byte(`{"statusCode":401,"error":"Unauthorized","message":"x"}`)); err == nil {
		t.Fatal("Management API shape accepted as an OAuth error")
	}
}

// TestMiddlewareCatchesMismatch runs the middleware against a handler that
// answers a malformed user; the inner test must fail.
func TestMiddlewareCatchesMismatch(t *testing.T) {
	inner := &fakeT{TB: t}
	mw := Middleware(inner)
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"user_id":5}`))
	}))
	req := httptest.NewRequest("GET", "/api/v2/users/auth0%7Cx", nil)
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !inner.failed || rec.Body.String() != `{"user_id":5}` {
		t.Fatalf("mismatch not reported (failed=%v) or body changed: %s", inner.failed, rec.Body.String())
	}
	inner2 := &fakeT{TB: t}
	h2 := Middleware(inner2)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"message":"nope"}`))
	}))
	h2.ServeHTTP(httptest.NewRecorder(), req)
	if !inner2.failed {
		t.Fatal("bad error shape not reported")
	}
	inner3 := &fakeT{TB: t}
	h3 := Middleware(inner3, WithRequests())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write(bytes.Replace(b, []byte(`"password":"x"`), []byte(`"user_id":"auth0|1"`), 1))
	}))
	creq := httptest.NewRequest("POST", "/api/v2/users", strings.NewReader(`{"connection":"c","email":"a@example.com","password":"x"}`))
	creq.Header.Set("Content-Type", "application/json")
	creq.Header.Set("Authorization", "Bearer x")
	rec3 := httptest.NewRecorder()
	h3.ServeHTTP(rec3, creq)
	if inner3.failed || !strings.Contains(rec3.Body.String(), `"user_id":"auth0|1"`) {
		t.Fatalf("valid exchange reported (failed=%v) or body lost: %s", inner3.failed, rec3.Body.String())
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Helper()               {}

func TestLookaheadRegex(t *testing.T) {
	re, err := regexEngine(`^(?:(?!org_))[a-z0-9]([a-z0-9-_]*[a-z0-9])?$`)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"acme": true, "org_acme": false, "org-acme": true, "Acme": false, "a": true} {
		if re.MatchString(s) != want {
			t.Errorf("%q: got %v", s, !want)
		}
	}
}
