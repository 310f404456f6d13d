package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// CreateUsers bulk-creates users through the admin surface, with chosen
// created_at (many may share one millisecond). Emails are lower-cased;
// fields are not schema-checked. It stops at the first conflict and
// returns the ids created so far with the error.
func (e *Emulator) CreateUsers(users []SeedUser) ([]string, error) {
	ids := make([]string, 0, len(users))
	for i, su := range users {
		conn, id, fields := e.seedArgs(su)
		created, _, herr := e.createUser(conn, id, su.CreatedAt, fields, su.Indexed, su.NoEvent)
		if herr != nil {
			return ids, fmt.Errorf("emulator: create user %d (%s): %d %s: %w", i, su.Email, herr.status, herr.message, ErrUserExists)
		}
		ids = append(ids, created)
	}
	return ids, nil
}

// seedArgs is what createUser needs for a seeded user: its connection
// (a social id lives in its provider's connection, as on a real tenant),
// full id, and fields without the ones the store sets itself.
func (e *Emulator) seedArgs(su SeedUser) (conn, id string, fields map[string]any) {
	conn = su.Connection
	if conn == "" {
		conn = DefaultConnection
		if p, _, ok := strings.Cut(su.UserID, "|"); ok && p != "auth0" {
			conn = p
		}
	}
	fields = make(map[string]any, len(su.Fields)+1)
	for k, v := range su.Fields {
		switch k {
		case "user_id", "created_at", "identities", "password", "connection", "verify_email":
			continue
		}
		fields[k] = v
	}
	if su.Email != "" {
		fields["email"] = su.Email
	}
	id = su.UserID
	if id != "" && !strings.Contains(id, "|") {
		id = "auth0|" + id
	}
	provider, _, _ := strings.Cut(id, "|")
	e.conns.ensure(conn, provider)
	return conn, id, fields
}

// ErrUserExists is returned by CreateUsers for a duplicate id, or email or
// username in the same connection.
var ErrUserExists = fmt.Errorf("user already exists")

// DeleteUser removes a user (with a user.deleted event); false if absent.
func (e *Emulator) DeleteUser(id string) bool { return e.deleteUser(id) }

// UserJSON returns the user as GET /users/{id} would answer.
func (e *Emulator) UserJSON(id string) ([]byte, bool) {
	raw, _, ok := e.lookupUser(id)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), raw...), true
}

// UserCount is the number of users in the tenant.
func (e *Emulator) UserCount() int {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	return len(e.store.byID)
}

// Requests returns the request log (oldest first). /emulator/ calls are
// not logged.
func (e *Emulator) Requests() []LoggedRequest { return e.log.snapshot() }

// ResetRequests empties the request log.
func (e *Emulator) ResetRequests() { e.log.reset() }

// serveAdmin is the HTTP admin surface under /emulator/.
func (e *Emulator) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/emulator/users":
		e.serveAdminUsers(w, r)
	case path == "/emulator/fault-users" && r.Method == http.MethodPost:
		e.serveFaultUsers(w, r)
	case strings.HasPrefix(path, "/emulator/users/") && r.Method == http.MethodDelete:
		id, err := url.PathUnescape(strings.TrimPrefix(path, "/emulator/users/"))
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "", "bad user id escape")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deleted": e.DeleteUser(id)})
	case strings.HasPrefix(path, "/emulator/users/") && r.Method == http.MethodPatch:
		e.adminUpdateUser(w, r, strings.TrimPrefix(path, "/emulator/users/"))
	case path == "/emulator/event-streams" || strings.HasPrefix(path, "/emulator/event-streams/"):
		e.serveAdminEventStreams(w, r, path)
	case path == "/emulator/requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, e.Requests())
	case path == "/emulator/requests" && r.Method == http.MethodDelete:
		e.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case path == "/emulator/knobs":
		e.serveAdminKnobs(w, r)
	case path == "/emulator/connections":
		e.serveAdminConnections(w, r)
	case path == "/emulator/events/close" && r.Method == http.MethodPost:
		e.CloseEventStreams()
		w.WriteHeader(http.StatusNoContent)
	default:
		adminNotFound(w)
	}
}

func adminNotFound(w http.ResponseWriter) {
	writeAPIError(w, http.StatusNotFound, "", "Not Found: admin endpoints are POST/GET /emulator/users, POST /emulator/fault-users, PATCH/DELETE /emulator/users/{id}, /emulator/event-streams[/{id}[/deliveries|/redeliver]], GET/DELETE /emulator/requests, GET/PATCH /emulator/knobs, GET/POST /emulator/connections, POST /emulator/events/close")
}

// serveAdminUsers: POST seeds users, GET counts them.
func (e *Emulator) serveAdminUsers(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"count": e.UserCount()})
		return
	case http.MethodPost:
	default:
		adminNotFound(w)
		return
	}
	serveCreate(w, r, "users", e.CreateUsers)
}

// serveCreate decodes a JSON array of T (up to 256 MB) and answers with the
// ids create made: 200, or 409 with the error and the ids made before it.
func serveCreate[T any](w http.ResponseWriter, r *http.Request, what string, create func([]T) ([]string, error)) {
	var items []T
	if err := json.NewDecoder(io.LimitReader(r.Body, 256<<20)).Decode(&items); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", "body must be a JSON array of "+what+": "+err.Error())
		return
	}
	ids, err := create(items)
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]any{"user_ids": ids, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user_ids": ids})
}

// serveAdminKnobs: GET shows the knobs, PATCH (PUT, POST) changes some.
func (e *Emulator) serveAdminKnobs(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, knobsView(e.Knobs()))
		return
	case http.MethodPatch, http.MethodPut, http.MethodPost:
	default:
		adminNotFound(w)
		return
	}
	var patch map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&patch); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", "body must be a JSON object of knobs: "+err.Error())
		return
	}
	k := e.Knobs()
	err := applyKnobPatch(&k, patch, func(n string) string { return fmt.Sprintf("knob %q", n) })
	if err == nil {
		err = CheckKnobs(k)
	}
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", err.Error())
		return
	}
	e.SetKnobs(func(dst *Knobs) { *dst = k })
	writeJSON(w, http.StatusOK, knobsView(k))
}

// IssueToken returns a valid access token for a configured client without
// an HTTP round trip (tests); "" if the client does not exist.
func (e *Emulator) IssueToken(clientID string) string {
	c, ok := e.findClient(clientID)
	if !ok {
		return ""
	}
	scopes := c.Scopes
	if scopes == nil {
		scopes = AllScopes
	}
	now := e.now()
	return e.tokens.issue(tokenInfo{clientID: c.ID, scopes: append([]string(nil), scopes...), expires: now.Add(e.cfg.TokenLifetime)}, now)
}
