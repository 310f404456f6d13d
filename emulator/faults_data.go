package emulator

// Fault knobs for bad data (README "Bad data"): users Auth0 lets exist but a
// client must survive — oversized profiles, wrongly typed or missing fields,
// timestamps that are no time, created_at in the future — and Events API
// messages larger than any sane bound. Kept apart from the faithful user
// store: nothing here is reachable through the Management API.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// FaultUser is a user stored with bad data. The emulator indexes it at
// SeedUser.CreatedAt (its place in search order and created_at ranges) but
// serves the profile — from GET /users, GET /users/{id} and in its
// user.created event — with the members of Set replaced and those of Unset
// removed.
type FaultUser struct {
	SeedUser
	// Set replaces or adds top-level members with raw JSON values, e.g.
	// {"created_at": `1700000000`} or {"email": `["a@b.c"]`}.
	Set map[string]json.RawMessage `json:"set,omitempty"`
	// Unset removes top-level members, e.g. ["user_id"].
	Unset []string `json:"unset,omitempty"`
	// Pad adds a member "user_metadata" {"padding": "xxx…"} of Pad bytes:
	// an oversized user (Auth0 allows 16 MB of metadata).
	Pad int `json:"pad,omitempty"`
	// EventPad makes only the user's Events API message huge: its CloudEvent
	// gets an extension member a0padding of EventPad bytes, while the user
	// and search pages stay small.
	EventPad int `json:"event_pad,omitempty"`
}

// CreateFaultUsers stores users with bad data (see FaultUser) and returns
// their internal ids (the ids they were created under, whatever Set does to
// user_id). It stops at the first conflict.
func (e *Emulator) CreateFaultUsers(users []FaultUser) ([]string, error) {
	ids := make([]string, 0, len(users))
	for i, fu := range users {
		conn, id, fields := e.seedArgs(fu.SeedUser)
		if fu.Pad > 0 {
			fields["user_metadata"] = map[string]any{"padding": strings.Repeat("x", fu.Pad)}
		}
		created, _, herr := e.createUser(conn, id, fu.CreatedAt, fields, fu.Indexed, true)
		if herr != nil {
			return ids, fmt.Errorf("emulator: fault user %d: %d %s: %w", i, herr.status, herr.message, ErrUserExists)
		}
		s := e.store
		s.mu.Lock()
		u := s.byID[created]
		doc := make(map[string]any, len(u.cur.doc)+len(fu.Set))
		for k, v := range u.cur.doc {
			doc[k] = v
		}
		for k, v := range fu.Set {
			doc[k] = v
		}
		for _, k := range fu.Unset {
			delete(doc, k)
		}
		u.cur = newVersion(doc, u.cur.visibleAt)
		if !fu.NoEvent {
			e.events.appendPadded("user.created", u.cur.raw, fu.EventPad)
		}
		s.mu.Unlock()
		ids = append(ids, created)
	}
	return ids, nil
}

// serveFaultUsers is POST /emulator/fault-users: a JSON array of FaultUser.
func (e *Emulator) serveFaultUsers(w http.ResponseWriter, r *http.Request) {
	serveCreate(w, r, "fault users", e.CreateFaultUsers)
}
