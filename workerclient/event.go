package workerclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CloudEvents types of the worker's user events (README "User life cycle").
const (
	TypeUserCreated = "com.auth0.user.created"
	TypeUserUpdated = "com.auth0.user.updated"
	TypeUserDeleted = "com.auth0.user.deleted"
)

// ErrNotAnEvent means a message is not one of the worker's user events.
var ErrNotAnEvent = errors.New("workerclient: not an auth0-worker user event")

// Event is a user event: the CloudEvents 1.0 attributes and the user
// (structured JSON mode, Content-Type application/cloudevents+json).
type Event struct {
	SpecVersion string `json:"specversion"`
	// ID is the event id and the message's Nats-Msg-Id:
	// <user_id>@<created_at>, updated@<user_id>@<updated_at> or
	// deleted@<user_id>@<deleted_at>.
	ID string `json:"id"`
	// Source is the tenant's base URL with a trailing slash.
	Source string `json:"source"`
	Type   string `json:"type"`
	// Subject is the user id.
	Subject string `json:"subject"`
	// Time is created_at, updated_at or deleted_at of the user, verbatim.
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	// Truncated is the auth0truncated extension: the user was too large to
	// publish, so User holds only user_id, created_at, updated_at,
	// deleted_at and email; read the rest with Client.GetUser.
	Truncated bool `json:"auth0truncated,omitempty"`
	// TraceParent is the W3C trace context extension, when present.
	TraceParent string `json:"traceparent,omitempty"`
	// User is data: the Auth0 user, limited to the worker's EVENT_FIELDS.
	User User `json:"data"`
}

// Kind is the worker's name of the type: "user.created", "user.updated"
// or "user.deleted".
func (e *Event) Kind() string { return strings.TrimPrefix(e.Type, "com.auth0.") }

// DecodeEvent decodes a message of <prefix>.users.>. A body that is not
// one of the worker's user events (another publisher on the stream, a
// CloudEvent of another type) is ErrNotAnEvent, with the reason.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAnEvent, err)
	}
	switch {
	case e.SpecVersion != "1.0":
		return nil, fmt.Errorf("%w: specversion %q, want 1.0", ErrNotAnEvent, e.SpecVersion)
	case e.Type != TypeUserCreated && e.Type != TypeUserUpdated && e.Type != TypeUserDeleted:
		return nil, fmt.Errorf("%w: type %q", ErrNotAnEvent, e.Type)
	case e.ID == "" || e.User.UserID == "":
		return nil, fmt.Errorf("%w: no id or no data.user_id", ErrNotAnEvent)
	}
	return &e, nil
}

// EventSubject is the subject of an event type for a subject prefix:
// EventSubject("auth0", TypeUserCreated) = "auth0.users.created".
func EventSubject(prefix, eventType string) string {
	return prefix + ".users." + strings.TrimPrefix(eventType, "com.auth0.user.")
}
