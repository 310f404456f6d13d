package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// createUser adds a user. fields are validated profile fields without
// password/verify_email/connection/user_id. It returns the user's JSON, or
// an Auth0 status/code/message on failure.
func (e *Emulator) createUser(connection, id string, created time.Time, fields map[string]any, indexed, noEvent bool) (string, []byte, *httpErr) {
	if email, ok := fields["email"].(string); ok {
		// Database connections store emails lower-cased.
		fields["email"] = strings.ToLower(email)
	}
	emailKey, _ := fields["email"].(string)
	username, _ := fields["username"].(string)
	if id == "" {
		id = "auth0|" + e.randomHex(12)
	}
	now := e.now()
	if created.IsZero() {
		created = now
	}
	created = created.UTC().Truncate(time.Millisecond)
	doc := newUserDoc(id, connection, created, fields)
	v := newVersion(doc, now.Add(e.drawLag()))
	if indexed {
		v.visibleAt = time.Time{}
	}
	u := &user{id: id, connection: connection, emailKey: emailKey, username: username, createdAt: created, cur: v}

	s := e.store
	s.mu.Lock()
	s.purge(now)
	if _, dup := s.byID[id]; dup || s.conflict(connection, emailKey, username, nil) {
		s.mu.Unlock()
		return "", nil, &httpErr{http.StatusConflict, "auth0_idp_error", msgUserExists}
	}
	s.addIndexes(u)
	s.insertSorted(u)
	// The event log append happens under the store lock so events are in
	// the order changes happen.
	if !noEvent {
		e.events.append("user.created", v.raw)
	}
	s.mu.Unlock()
	return id, v.raw, nil
}

type httpErr struct {
	status  int
	code    string
	message string
}

func (h *httpErr) write(w http.ResponseWriter) { writeAPIError(w, h.status, h.code, h.message) }

// readJSONObject reads a JSON object body (≤ 1 MB) with numbers kept exact.
func readJSONObject(r *http.Request) (map[string]any, *httpErr) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &httpErr{http.StatusBadRequest, "invalid_body", "Invalid request payload: " + err.Error()}
	}
	if len(body) > maxBody {
		return nil, &httpErr{http.StatusRequestEntityTooLarge, "", "Payload content length greater than maximum allowed: 1048576"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, &httpErr{http.StatusBadRequest, "invalid_body", "Invalid request payload JSON format"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &httpErr{http.StatusBadRequest, "invalid_body", "Payload validation error: 'Expected type object but found type " + jsonType(v) + "'."}
	}
	return m, nil
}

func (e *Emulator) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	body, herr := readUserBody(r, createProps)
	if herr != nil {
		herr.write(w)
		return
	}
	if msg := validateBody(body, createProps, []string{"connection"}); msg != "" {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", msg)
		return
	}
	conn, herr := e.createConnection(body)
	if herr != nil {
		herr.write(w)
		return
	}
	connection := conn.Name
	id := conn.provider() + "|" + e.randomHex(12)
	if given, ok := body["user_id"].(string); ok && given != "" {
		id = conn.provider() + "|" + given
	}
	fields := make(map[string]any, len(body))
	for k, v := range body {
		switch k {
		case "connection", "user_id", "password", "verify_email":
		default:
			fields[k] = v
		}
	}
	_, raw, herr := e.createUser(connection, id, time.Time{}, fields, false, false)
	if herr != nil {
		herr.write(w)
		return
	}
	writeRawJSON(w, http.StatusCreated, raw)
}

// lookupUser returns the newest version of a user.
func (e *Emulator) lookupUser(id string) ([]byte, map[string]any, bool) {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	u, ok := e.store.byID[id]
	if !ok {
		return nil, nil, false
	}
	return u.cur.raw, u.cur.doc, true
}

// userConnection is the connection of a user, if the user exists.
func (e *Emulator) userConnection(id string) (string, bool) {
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	u, ok := e.store.byID[id]
	if !ok {
		return "", false
	}
	return u.connection, true
}

func (e *Emulator) handleGetUser(w http.ResponseWriter, r *http.Request, id string) {
	raw, doc, ok := e.lookupUser(id)
	if !ok {
		writeAPIError(w, http.StatusNotFound, "inexistent_user", msgNotFoundUser)
		return
	}
	sel, herr := parseFieldSelection(r.URL.Query())
	if herr != nil {
		herr.write(w)
		return
	}
	if sel != nil {
		raw = render(sel.apply(doc))
	}
	writeRawJSON(w, http.StatusOK, raw)
}

func (e *Emulator) handleDeleteUser(w http.ResponseWriter, id string) {
	e.deleteUser(id)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) deleteUser(id string) bool {
	lag := e.drawLag()
	s := e.store
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[id]
	if !ok {
		return false
	}
	s.removeIndexes(u)
	s.bury(u, e.now(), lag)
	e.events.append("user.deleted", u.cur.raw)
	return true
}

func (e *Emulator) handlePatchUser(w http.ResponseWriter, r *http.Request, id string) {
	body, herr := readUserBody(r, updateProps)
	if herr != nil {
		herr.write(w)
		return
	}
	for k := range body {
		if readOnlyProps[k] {
			writeAPIError(w, http.StatusBadRequest, "invalid_body", "Payload validation error: 'Additional properties not allowed: "+k+"'.")
			return
		}
	}
	if msg := validateBody(body, updateProps, nil); msg != "" {
		writeAPIError(w, http.StatusBadRequest, "invalid_body", msg)
		return
	}
	if _, pw := body["password"]; pw {
		_, em := body["email"]
		_, un := body["username"]
		if em {
			writeAPIError(w, http.StatusBadRequest, "operation_not_supported", "Cannot update password and email simultaneously")
			return
		}
		if un {
			writeAPIError(w, http.StatusBadRequest, "operation_not_supported", "Cannot update password and username simultaneously")
			return
		}
	}
	if conn, ok := e.userConnection(id); ok {
		if herr := e.patchConnection(conn, body); herr != nil {
			herr.write(w)
			return
		}
	}
	raw, herr := e.updateUser(id, body)
	if herr != nil {
		herr.write(w)
		return
	}
	writeRawJSON(w, http.StatusOK, raw)
}

// updateUser applies a validated PATCH body.
func (e *Emulator) updateUser(id string, body map[string]any) ([]byte, *httpErr) {
	s := e.store
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byID[id]
	if !ok {
		return nil, &httpErr{http.StatusNotFound, "inexistent_user", msgNotFoundUser}
	}
	now := e.now()
	doc := cloneDoc(u.cur.doc)
	newEmail, newUsername := u.emailKey, u.username
	for k, v := range body {
		switch k {
		case "connection", "client_id", "verify_email", "verify_phone_number":
			// Steering parameters, not profile fields.
		case "password":
			if v != nil {
				doc["last_password_reset"] = formatTime(now)
			}
		case "user_metadata", "app_metadata":
			patchMetadata(doc, k, v.(map[string]any))
		case "email":
			newEmail = patchEmail(doc, v, u.emailKey, body)
		case "username":
			setOrDelete(doc, k, v)
			newUsername, _ = v.(string)
		default:
			setOrDelete(doc, k, v)
		}
	}
	if (newEmail != u.emailKey || newUsername != u.username) && s.conflict(u.connection, newEmail, newUsername, u) {
		return nil, &httpErr{http.StatusConflict, "auth0_idp_error", msgUserExists}
	}
	doc["updated_at"] = formatTime(laterThan(now, u.cur.doc["updated_at"]))
	s.reindex(u, newEmail, newUsername)
	if !now.Before(u.cur.visibleAt) {
		u.prev = u.cur
	}
	u.cur = newVersion(doc, now.Add(e.drawLag()))
	e.events.append("user.updated", u.cur.raw)
	return u.cur.raw, nil
}

// setOrDelete sets doc[k] to v; null deletes it.
func setOrDelete(doc map[string]any, k string, v any) {
	if v == nil {
		delete(doc, k)
	} else {
		doc[k] = v
	}
}

// patchMetadata merges patch into doc[k] (user_metadata or app_metadata):
// a null member deletes. Auth0 keeps an emptied user_metadata as {} but
// drops an emptied app_metadata (as recorded).
func patchMetadata(doc map[string]any, k string, patch map[string]any) {
	if len(patch) == 0 {
		if k == "user_metadata" {
			doc[k] = map[string]any{}
		} else {
			delete(doc, k)
		}
		return
	}
	old, _ := doc[k].(map[string]any)
	merged := make(map[string]any, len(old)+len(patch))
	for mk, mv := range old {
		merged[mk] = mv
	}
	for mk, mv := range patch {
		setOrDelete(merged, mk, mv)
	}
	if len(merged) == 0 && k == "app_metadata" {
		delete(doc, k)
	} else {
		doc[k] = merged
	}
}

// patchEmail sets (lower-cased) or deletes the email and returns the new
// email key; a changed email is unverified unless the body says otherwise.
func patchEmail(doc map[string]any, v any, oldKey string, body map[string]any) string {
	if v == nil {
		delete(doc, "email")
		return ""
	}
	em := strings.ToLower(v.(string))
	if em != oldKey {
		if _, set := body["email_verified"]; !set {
			doc["email_verified"] = false
		}
	}
	doc["email"] = em
	return em
}

// reindex moves u in the email and username indexes (s.mu held).
func (s *store) reindex(u *user, newEmail, newUsername string) {
	if newEmail != u.emailKey {
		s.removeEmail(u)
		u.emailKey = newEmail
		if newEmail != "" {
			s.byEmail[newEmail] = append(s.byEmail[newEmail], u)
		}
	}
	if newUsername != u.username {
		s.removeName(u)
		u.username = newUsername
		if newUsername != "" {
			s.byName[u.connection+"\x00"+newUsername] = u
		}
	}
}

func cloneDoc(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc)+2)
	for k, v := range doc {
		out[k] = v
	}
	return out
}

func (e *Emulator) handleUsersByEmail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	email := q.Get("email")
	if _, ok := q["email"]; !ok || email == "" {
		writeAPIError(w, http.StatusBadRequest, "invalid_query_string", "Query validation error: 'Missing required property: email'.")
		return
	}
	sel, herr := parseFieldSelection(q)
	if herr != nil {
		herr.write(w)
		return
	}
	e.store.mu.RLock()
	list := e.store.byEmail[strings.ToLower(email)]
	out := make([][]byte, 0, len(list))
	for _, u := range list {
		if sel != nil {
			out = append(out, render(sel.apply(u.cur.doc)))
		} else {
			out = append(out, u.cur.raw)
		}
	}
	e.store.mu.RUnlock()
	writeRawJSON(w, http.StatusOK, joinArray(out))
}

func joinArray(items [][]byte) []byte {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// fieldSelection is the fields/include_fields parameters.
type fieldSelection struct {
	fields  map[string]bool
	include bool
}

func parseFieldSelection(q url.Values) (*fieldSelection, *httpErr) {
	f := strings.TrimSpace(q.Get("fields"))
	inc := true
	if v, ok := q["include_fields"]; ok {
		switch v[0] {
		case "true":
		case "false":
			inc = false
		default:
			return nil, &httpErr{http.StatusBadRequest, "invalid_query_string", "Query validation error: 'Expected type boolean but found type string' on property include_fields."}
		}
	}
	if f == "" {
		return nil, nil
	}
	sel := &fieldSelection{fields: map[string]bool{}, include: inc}
	for _, name := range strings.Split(f, ",") {
		if name = strings.TrimSpace(name); name != "" {
			sel.fields[name] = true
		}
	}
	return sel, nil
}

func (s *fieldSelection) apply(doc map[string]any) map[string]any {
	out := make(map[string]any, len(s.fields))
	for k, v := range doc {
		if s.fields[k] == s.include {
			out[k] = v
		}
	}
	return out
}

// laterThan is now, or 1 ms after prev (an Auth0 timestamp) when now is not
// later: two updates of one user in the same millisecond still get distinct
// updated_at values, so every update has its own event id downstream
// (updated@<user_id>@<updated_at>) and "newer" stays comparable.
func laterThan(now time.Time, prev any) time.Time {
	p, ok := prev.(string)
	if !ok {
		return now
	}
	t, err := time.Parse(timeLayout, p)
	if err != nil || now.Truncate(time.Millisecond).After(t) {
		return now
	}
	return t.Add(time.Millisecond)
}
