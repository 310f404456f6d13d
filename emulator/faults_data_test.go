package emulator

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Fault users through the admin surface: served with the bad members from
// GET /users/{id}, search and the Events API, placed in search order by
// their created_at; padding makes the user or only its event large.
func TestFaultUsers(t *testing.T) {
	s := startServer(t, Config{})
	c := newClient(t, s)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := c.do("POST", "/emulator/fault-users", []map[string]any{
		{"user_id": "auth0|num", "created_at": at, "indexed": true, "set": map[string]any{"created_at": 1700000000, "email": []string{"x"}}},
		{"user_id": "auth0|gone", "created_at": at.Add(time.Millisecond), "indexed": true, "unset": []string{"user_id"}},
		{"user_id": "auth0|fat", "created_at": at.Add(2 * time.Millisecond), "indexed": true, "pad": 100_000, "event_pad": 200_000},
	})
	if r.status != 200 {
		t.Fatalf("fault-users: %d %s", r.status, r.body)
	}
	c.token = c.fetchToken(s.ClientID, s.ClientSecret)
	u := c.do("GET", "/api/v2/users/auth0%7Cnum", nil).obj(t)
	if u["created_at"] != float64(1700000000) || u["user_id"] != "auth0|num" {
		t.Fatalf("user %v", u)
	}
	page := c.do("GET", "/api/v2/users?sort=created_at:1&per_page=10", nil).arr(t)
	if len(page) != 3 {
		t.Fatalf("%d users", len(page))
	}
	if _, has := page[1].(map[string]any)["user_id"]; has {
		t.Fatalf("unset user_id still served: %v", page[1])
	}
	md, _ := page[2].(map[string]any)["user_metadata"].(map[string]any)
	if p, _ := md["padding"].(string); len(p) != 100_000 {
		t.Fatalf("pad: %d bytes", len(p))
	}
	// The event of the padded user is large, the user itself is not padded twice.
	var frame []byte
	l := s.Emulator.events
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if bytes.Contains(e.frame, []byte(`"user_id":"auth0|fat"`)) {
			frame = e.frame
		}
	}
	if len(frame) < 300_000 || !bytes.Contains(frame, []byte(`"a0padding":"xxx`)) || strings.Count(string(frame), "\n\n") != 1 {
		t.Fatalf("padded event: %d bytes", len(frame))
	}
	var ev struct {
		Event map[string]json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(bytes.TrimSuffix(frame[bytes.Index(frame, []byte("data: "))+6:], []byte("\n\n")), &ev); err != nil || ev.Event["a0padding"] == nil {
		t.Fatalf("padded event is not valid JSON: %v", err)
	}
}
