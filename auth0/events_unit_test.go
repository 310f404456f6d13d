package auth0_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// A transient `event: error` reconnects from the last offset received
// (sent as Last-Event-ID); cursor_expired ends the stream with a
// *StreamError that matches ErrCursorExpired.
func TestEventsStreamErrorCodes(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			_, _ = w.Write([]byte(`{"access_token":"abc","expires_in":86400,"token_type":"Bearer"}`))
			return
		}
		if r.Header.Get("Accept") != "text/event-stream" {
			w.WriteHeader(406)
			return
		}
		mu.Lock()
		n := len(lastIDs)
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		user := func(off string) string {
			return fmt.Sprintf("event: user.created\nid: %s\ndata: {\"offset\":\"%s\",\"event\":{\"id\":\"evt_%s\",\"type\":\"user.created\",\"data\":{\"object\":{\"user_id\":\"auth0|%s\"}}}}\n\n", off, off, off, off)
		}
		switch n {
		case 0:
			fmt.Fprint(w, ":connected\n\nretry: 10\n\n"+user("1")+"event: error\ndata: {\"type\":\"error\",\"error\":{\"code\":\"timeout\",\"message\":\"t\",\"offset\":\"1\"}}\n\n")
		case 1:
			fmt.Fprint(w, ":connected\n\n"+user("2")+"event: offset-only\nid: 3\ndata: {\"offset\":\"3\"}\n\n")
		default:
			fmt.Fprint(w, ":connected\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"code\":\"cursor_expired\",\"message\":\"gone\",\"offset\":\"3\"}}\n\n")
		}
	}))
	defer srv.Close()
	// Every /api/v2 request this test sends is checked against the OpenAPI subset.
	c, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: "id", ClientSecret: "s", HTTPClient: &http.Client{Transport: newContractTransport(t)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from := time.Date(2026, 1, 2, 3, 4, 5, 999e6, time.FixedZone("x", 3600))
	s, err := c.SubscribeEvents(ctx, auth0.EventParams{Types: []string{"user.created", "user.deleted"}, FromTimestamp: from, Reconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			var se *auth0.StreamError
			if !errors.Is(err, auth0.ErrCursorExpired) || !errors.As(err, &se) || se.Offset != "3" {
				t.Fatalf("err = %v", err)
			}
			break
		}
		got = append(got, ev.Type+"@"+ev.Offset)
	}
	if fmt.Sprint(got) != "[user.created@1 user.created@2 offset-only@3]" {
		t.Fatalf("events %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(lastIDs) != "[ 1 3]" {
		t.Fatalf("Last-Event-ID per connection %q", lastIDs)
	}
	if queries[0] != "event_type=user.created&event_type=user.deleted&from_timestamp=2026-01-02T02%3A04%3A05Z" {
		t.Fatalf("first query %q", queries[0])
	}
	if s.LastOffset() != "3" {
		t.Fatalf("LastOffset %q", s.LastOffset())
	}
}
