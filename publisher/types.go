package publisher

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/jsonscan"
)

// The user life-cycle event types (EVENT_TYPES; README "User life cycle").
// Each has its subject <prefix>.users.<created|updated|deleted> and its
// CloudEvents type com.auth0.<type>.
const (
	TypeCreated = "user.created"
	TypeUpdated = "user.updated"
	TypeDeleted = "user.deleted"
)

// Types lists the event types in publishing order.
var Types = []string{TypeCreated, TypeUpdated, TypeDeleted}

// ReasonBadEventTime is the dead-letter reason of an updated or deleted
// object whose updated_at / deleted_at (or, when absent, the event's time)
// is not an RFC 3339 string.
const ReasonBadEventTime = "bad_event_time"

// KindOf is u's event type: u.Kind, or user.created when empty.
func KindOf(u auth0.User) string {
	if u.Kind == "" {
		return TypeCreated
	}
	return u.Kind
}

// kindIndex is the position of u's type in Types (0 for anything unknown,
// which CheckKind refuses before it gets here).
func kindIndex(u auth0.User) int {
	switch u.Kind {
	case TypeUpdated:
		return 1
	case TypeDeleted:
		return 2
	}
	return 0
}

// CloudEventsType is the CloudEvents `type` of an event type:
// com.auth0.user.created, ...
func CloudEventsType(kind string) string { return "com.auth0." + kind }

// UserSubject is the subject of an event type: <prefix>.users.created, ...
func (n Names) UserSubject(kind string) string {
	return n.Prefix + ".users." + kind[len("user."):]
}

// timeField is the member of the object that gives an event type its time.
func timeField(kind string) string {
	switch kind {
	case TypeUpdated:
		return "updated_at"
	case TypeDeleted:
		return "deleted_at"
	}
	return "created_at"
}

// EventTime is the CloudEvent `time` of u's event, verbatim: created_at for
// user.created, else the object's updated_at / deleted_at, or the Auth0
// event's time (u.EventTime) when the object has none. "" when unusable.
func EventTime(u auth0.User) string {
	kind := KindOf(u)
	if kind == TypeCreated {
		return u.CreatedAt
	}
	if s, ok := stringMember(u.Raw, timeField(kind)); ok {
		return s
	}
	return u.EventTime
}

// CheckKind is the check (README "Bad data") of what an updated or deleted event adds to
// the user checks (auth0.CheckUser): a known type and a usable time. nil
// for created users and good events.
func CheckKind(u auth0.User) *auth0.UserProblem {
	switch u.Kind {
	case "", TypeCreated:
		return nil
	case TypeUpdated, TypeDeleted:
	default:
		return &auth0.UserProblem{Reason: ReasonBadEventTime, Field: "type", Detail: fmt.Sprintf("unknown event type %q", u.Kind), CreatedAtGiven: u.CreatedAt}
	}
	t := EventTime(u)
	if _, err := time.Parse(time.RFC3339Nano, t); err != nil || !headerSafe(t) {
		return &auth0.UserProblem{Reason: ReasonBadEventTime, Field: timeField(u.Kind), Detail: fmt.Sprintf("%q is not an RFC 3339 time", clip(t, 64)), CreatedAtGiven: u.CreatedAt}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// stringMember is the string value of the top-level member name of the
// JSON object raw; ok is false when it is absent, null or not a string.
func stringMember(raw []byte, name string) (string, bool) {
	var v []byte
	jsonscan.Members(raw, func(key []byte, vs, ve int) bool {
		if string(key) == name {
			v = raw[vs:ve]
			return false
		}
		return true
	})
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}
