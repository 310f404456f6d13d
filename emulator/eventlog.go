package emulator

// STUB owned by the Events API author: the agreed internal interface between
// the user store and the Events API.

import "net/http"

// eventLog keeps the tenant's events with their offsets and serves them.
type eventLog struct{ e *Emulator }

// newEventLog is called once by New.
func newEventLog(e *Emulator) *eventLog { return &eventLog{e: e} }

// append records one event. eventType is "user.created", "user.updated" or
// "user.deleted"; user is the user object JSON exactly as GET /users/{id}
// answers it (for user.deleted, the user as it was). Called by the store
// after the change is applied, in the order changes happen.
func (l *eventLog) append(eventType string, user []byte) {}

// closeAll drops every open SSE connection (server-side cycling on demand).
func (l *eventLog) closeAll() {}

// serveEvents handles GET /api/v2/events. The router calls it after the
// common middleware: token check, scope read:events (403 insufficient_scope),
// rate limit, fault injection, latency and the request log.
func (e *Emulator) serveEvents(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}
