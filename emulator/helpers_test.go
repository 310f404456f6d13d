package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// tclient drives a test server over real HTTP.
type tclient struct {
	t     testing.TB
	s     *Server
	token string
}

func newClient(t testing.TB, s *Server) *tclient {
	t.Helper()
	c := &tclient{t: t, s: s}
	c.token = c.fetchToken(s.ClientID, s.ClientSecret)
	return c
}

func (c *tclient) fetchToken(id, secret string) string {
	c.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "audience": {c.s.URL + "/api/v2/"}}
	resp, err := c.s.Client.PostForm(c.s.URL+"/oauth/token", form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("token: status %d err %v body %v", resp.StatusCode, err, out)
	}
	return out["access_token"].(string)
}

type tresp struct {
	status int
	header http.Header
	body   []byte
}

func (r tresp) json(t testing.TB) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

func (r tresp) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("want an object, got %s", r.body)
	}
	return m
}

func (r tresp) arr(t testing.TB) []any {
	t.Helper()
	a, ok := r.json(t).([]any)
	if !ok {
		t.Fatalf("want an array, got %s", r.body)
	}
	return a
}

func (c *tclient) do(method, path string, body any) tresp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, c.s.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.roundTrip(req)
}

// doForm sends form as an application/x-www-form-urlencoded body.
func (c *tclient) doForm(method, path string, form url.Values) tresp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.roundTrip(req)
}

func (c *tclient) roundTrip(req *http.Request) tresp {
	c.t.Helper()
	resp, err := c.s.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return tresp{resp.StatusCode, resp.Header, b}
}

// wantAPIError asserts Auth0's exact Management API error shape.
func wantAPIError(t testing.TB, r tresp, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.obj(t)
	allowed := map[string]bool{"statusCode": true, "error": true, "message": true, "errorCode": true}
	for k := range m {
		if !allowed[k] {
			t.Fatalf("error body has unexpected key %q: %s", k, r.body)
		}
	}
	if sc, _ := m["statusCode"].(float64); int(sc) != status {
		t.Fatalf("statusCode %v, want %d", m["statusCode"], status)
	}
	if m["error"] != http.StatusText(status) {
		t.Fatalf("error %v, want %q", m["error"], http.StatusText(status))
	}
	if msg, _ := m["message"].(string); msg == "" {
		t.Fatalf("empty message: %s", r.body)
	}
	if code == "" {
		if _, ok := m["errorCode"]; ok {
			t.Fatalf("unexpected errorCode: %s", r.body)
		}
	} else if m["errorCode"] != code {
		t.Fatalf("errorCode %v, want %q: %s", m["errorCode"], code, r.body)
	}
	return m
}

func createBody(email string) map[string]any {
	return map[string]any{"connection": DefaultConnection, "email": email, "password": "Secr3t!pass"}
}
