package publisher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// Event ids (README "The event", "User life cycle", "Bad data") are built here and nowhere else: the
// dedupe key, the Nats-Msg-Id and the CloudEvent id are one string, so every
// source (and a later updated@/deleted@ type) agrees by construction.

// EventID is the event id and Nats-Msg-Id of u's event (README "User life
// cycle"): created <user_id>@<created_at>, created_at verbatim (a user
// deleted and created again with the same id has another created_at, hence
// a new event); updated updated@<user_id>@<updated_at>; deleted
// deleted@<user_id>@<deleted_at> (the times as EventTime gives them). A
// user id starts with "<provider>|" and no provider name holds "@", so the
// three forms never meet.
func EventID(u auth0.User) string {
	if u.Kind == "" || u.Kind == TypeCreated {
		return u.UserID + "@" + u.CreatedAt
	}
	return u.Kind[len("user."):] + "@" + u.UserID + "@" + EventTime(u)
}

// invalidPrefix starts every dead-letter id; no user id starts with it (a
// user id starts with "<provider>|").
const invalidPrefix = "invalid@"

// maxInvalidIDPart bounds the readable parts of a dead-letter id; longer
// ones fall back to the hash form, so the header stays small.
const maxInvalidIDPart = 512

// InvalidID is the Nats-Msg-Id (and seen key) of an unusable user's dead
// letter: invalid@<user_id>@<created_at as given>, or
// invalid@<hex SHA-256 of the canonical JSON> when the user has no usable
// user_id (or a part could not sit in a header).
func InvalidID(u auth0.User) string {
	given := ""
	if u.Problem != nil {
		given = u.Problem.CreatedAtGiven
	} else {
		given = u.CreatedAt
	}
	if u.Kind != "" && u.Kind != TypeCreated {
		// updated@/deleted@ events: one dead letter per event, not per user.
		given = u.Kind[len("user."):] + "@" + EventTime(u)
	}
	usable := u.UserID != "" && (u.Problem == nil || (u.Problem.Reason != auth0.ReasonNoUserID && u.Problem.Reason != auth0.ReasonBadUserID))
	if usable && headerSafe(u.UserID) && headerSafe(given) {
		return invalidPrefix + u.UserID + "@" + given
	}
	sum := sha256.Sum256(canonicalJSON(u.Raw))
	return invalidPrefix + hex.EncodeToString(sum[:])
}

// OversizedID is the id of the dead letter of an Events API message too
// large to read (README "Bad data"), keyed by its offset.
func OversizedID(offset string) string {
	if headerSafe(offset) {
		return invalidPrefix + "offset@" + offset
	}
	sum := sha256.Sum256([]byte(offset))
	return invalidPrefix + "offset@" + hex.EncodeToString(sum[:])
}

func headerSafe(s string) bool {
	if len(s) > maxInvalidIDPart {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// canonicalJSON is raw with members sorted and no insignificant space
// (numbers kept as written), so the same user hashes the same whatever
// Auth0's member order. Bytes that are not JSON hash as they are.
func canonicalJSON(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// headerValue makes s usable as a one-line header value.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}
