package auth0_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
)

const benchUser = `{"blocked":false,"created_at":"2023-01-25T19:00:28.395Z","email":"chuck520@example.com","email_verified":true,"family_name":"Sanchez","given_name":"Chuck","identities":[{"connection":"Username-Password-Authentication","user_id":"63d17c4c5d69f3e86d515d1c","provider":"auth0","isSocial":false}],"name":"chuck520@example.com","nickname":"Chucky","picture":"https://example-picture-url.jpg","updated_at":"2023-01-25T19:00:28.395Z","user_id":"auth0|63d17c4c5d69f3e86d515d1c","user_metadata":{"favourite_attack":"roundhouse_kick"},"username":"test-user998"}`

// cannedTransport answers without a network, to measure the client alone.
type cannedTransport struct{ body string }

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body := c.body
	if req.URL.Path == "/oauth/token" {
		body = `{"access_token":"t","expires_in":86400,"token_type":"Bearer"}`
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Ratelimit-Limit": {"1000"}, "X-Ratelimit-Remaining": {"999"}, "X-Ratelimit-Reset": {"1999999999"}}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func benchClient(b *testing.B, rt http.RoundTripper, base string) *auth0.Client {
	c, err := auth0.New(auth0.Config{BaseURL: base, ClientID: "id", ClientSecret: "s", HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.EnsureToken(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkGetUserInProcess: the client's request path (token, rate gate,
// request building, response decoding into User) with no network.
func BenchmarkGetUserInProcess(b *testing.B) {
	c := benchClient(b, cannedTransport{benchUser}, "https://tenant.example")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetUser(ctx, "auth0|63d17c4c5d69f3e86d515d1c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetUserLoopback: the same over a real loopback HTTP/1.1 connection.
func BenchmarkGetUserLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Remaining", "999")
		if r.URL.Path == "/oauth/token" {
			_, _ = io.WriteString(w, `{"access_token":"t","expires_in":86400,"token_type":"Bearer"}`)
			return
		}
		_, _ = io.WriteString(w, benchUser)
	}))
	defer srv.Close()
	c := benchClient(b, http.DefaultTransport.(*http.Transport).Clone(), srv.URL)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.GetUser(ctx, "auth0|63d17c4c5d69f3e86d515d1c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchPage100InProcess: one search page of 100 users decoded.
func BenchmarkSearchPage100InProcess(b *testing.B) {
	users := make([]string, 100)
	for i := range users {
		users[i] = benchUser
	}
	page := fmt.Sprintf(`{"start":0,"limit":100,"length":100,"total":100,"users":[%s]}`, strings.Join(users, ","))
	c := benchClient(b, cannedTransport{page}, "https://tenant.example")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := c.SearchUsers(ctx, auth0.SearchParams{Query: "created_at:[2023-01-01 TO *]", Sort: "created_at:1", PerPage: 100})
		if err != nil || len(p.Users) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkSSEReader: parsing user.created messages.
func BenchmarkSSEReader(b *testing.B) {
	msg := "event: user.created\nid: 0000000000000001\ndata: {\"offset\":\"0000000000000001\",\"event\":{\"id\":\"evt_1\",\"type\":\"user.created\",\"data\":{\"object\":" + benchUser + "}}}\n\n"
	stream := strings.Repeat(msg, 1000)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		r := auth0.NewSSEReader(strings.NewReader(stream))
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
