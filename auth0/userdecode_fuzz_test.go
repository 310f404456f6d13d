package auth0

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecodeUser: per-user decoding never panics, never lets an unusable
// user through, and a bad user never blocks the one after it — in a search
// page or in an Events API message (README "Bad data"). Seeds:
// testdata/fuzz/FuzzDecodeUser.
func FuzzDecodeUser(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"auth0|1","created_at":"2023-01-25T19:00:26.187Z","email":"a@b.c"}`,
		`{"user_id":"auth0|1","created_at":1700000000}`,
		`{"user_id":"auth0|1","created_at":"not-a-date"}`,
		`{"user_id":12345,"created_at":"2023-01-25T19:00:26.187Z"}`,
		`{"created_at":"2023-01-25T19:00:26.187Z"}`,
		`{"user_id":"auth0|a\u0007b","created_at":"2023-01-25T19:00:26.187Z"}`,
		`{"user_id":"auth0|1","created_at":"2023-01-25T19:00:26.187Z","email":["x"]}`,
		`{"user_id":"auth0|1","created_at":"2023-01-25T19:00:26.187Z","identities":[{"user_id":{}}]}`,
		`{"user_id":"auth0|1","user_id":null,"created_at":"2023-01-25T19:00:26.187Z"}`,
		`null`, `5`, `"x"`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	const good = `{"user_id":"auth0|next","created_at":"2024-01-02T03:04:05.000Z"}`
	f.Fuzz(func(t *testing.T, b []byte) {
		u := DecodeUser(b)
		if u.Problem == nil {
			checkUsable(t, u, b)
		} else if u.Problem.Reason == "" || !bytes.Equal(u.Raw, bytes.TrimSpace(b)) {
			t.Fatalf("problem %+v, raw kept %v", u.Problem, bytes.Equal(u.Raw, bytes.TrimSpace(b)))
		}
		if !json.Valid(b) {
			return
		}
		// A search page: the bad user decodes on its own, the next one is usable.
		page, err := decodeUsersPage([]byte(`{"start":0,"limit":2,"total":2,"users":[` + string(b) + `,` + good + `]}`))
		if err != nil || len(page.Users) != 2 || page.Users[1].Problem != nil || page.Users[1].UserID != "auth0|next" {
			t.Fatalf("page around %q: err %v, users %d", b, err, len(page.Users))
		}
		if (page.Users[0].Problem == nil) != (u.Problem == nil) {
			t.Fatalf("page and DecodeUser disagree on %q: %v vs %v", b, page.Users[0].Problem, u.Problem)
		}
		// An Events API message: decodes (a null object excepted) and agrees.
		data := `{"offset":"1","event":{"id":"evt_1","type":"user.created","data":{"object":` + string(b) + `}}}`
		ev, err := decodeEvent(SSEMessage{Event: "user.created", ID: "1", HasID: true, Data: data})
		if string(bytes.TrimSpace(b)) == "null" {
			return
		}
		if err != nil || ev.User == nil || ev.Offset != "1" {
			t.Fatalf("event around %q: err %v", b, err)
		}
		if (ev.User.Problem == nil) != (u.Problem == nil) {
			t.Fatalf("event and DecodeUser disagree on %q: %v vs %v", b, ev.User.Problem, u.Problem)
		}
		if ev.User.Problem == nil {
			checkUsable(t, *ev.User, b)
		}
	})
}

// checkUsable: a user without Problem has what the worker relies on.
func checkUsable(t *testing.T, u User, b []byte) {
	t.Helper()
	if u.UserID == "" || hasControl(u.UserID) {
		t.Fatalf("usable user with user_id %q from %q", u.UserID, b)
	}
	if _, err := time.Parse(time.RFC3339Nano, u.CreatedAt); err != nil {
		t.Fatalf("usable user with created_at %q from %q", u.CreatedAt, b)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		t.Fatalf("usable user from a non-object %q", b)
	}
	if e, ok := m["email"]; ok && e != nil {
		if _, isStr := e.(string); !isStr {
			t.Fatalf("usable user with email %v from %q", e, b)
		}
	}
}
