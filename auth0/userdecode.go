package auth0

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/auth0-worker/auth0-worker/internal/jsonscan"
)

// Per-user decoding (README "Bad data"). Only the fields the worker relies on
// can make a user unusable; every other member passes through in Raw as
// Auth0 sent it, whatever its type (identities[].user_id may be a number,
// and a profile can hold anything an admin or a rule put there).

// ErrUnusableUser is matched by every *UserProblem.
var ErrUnusableUser = errors.New("auth0: unusable user")

// Reasons of a UserProblem: the `reason` label of
// auth0_worker_users_invalid_total and the Dlq-Reason of its dead letter.
const (
	ReasonNotObject    = "not_object"     // the user is not a JSON object
	ReasonNoUserID     = "no_user_id"     // user_id absent, null or ""
	ReasonBadUserID    = "bad_user_id"    // user_id not a string, or with control characters
	ReasonBadCreatedAt = "bad_created_at" // created_at absent, not a string, or not RFC 3339
	ReasonBadEmail     = "bad_email"      // email neither a string nor null
)

// UserProblem says why a user is unusable: which field, what was wrong.
type UserProblem struct {
	Reason string // one of the Reason* constants
	Field  string // "user_id", "created_at", "email" or "" (the whole user)
	Detail string // what was wrong, for logs (never the whole profile)
	// CreatedAtGiven is created_at as given: the string, or the raw JSON of
	// a value of another type ("" when absent). Dead-letter ids use it.
	CreatedAtGiven string
}

func (p *UserProblem) Error() string {
	if p.Field == "" {
		return "auth0: unusable user: " + p.Detail
	}
	return "auth0: unusable user: " + p.Field + ": " + p.Detail
}

// Unwrap makes errors.Is(p, ErrUnusableUser) true.
func (p *UserProblem) Unwrap() error { return ErrUnusableUser }

// DecodeUser decodes one user object. It never fails: a user the worker
// cannot use comes back with Problem set (and Raw holding what was sent), so
// one bad user never fails the page or stream batch around it. Raw is a copy
// of b.
func DecodeUser(b []byte) User {
	b = bytes.TrimSpace(b)
	var u User
	if !jsonValid(b) {
		u = User{Raw: b, Problem: &UserProblem{Reason: ReasonNotObject, Detail: "not valid JSON"}}
	} else {
		u = decodeUserShared(b)
	}
	u.Raw = append(json.RawMessage(nil), u.Raw...)
	return u
}

// decodeUserShared is DecodeUser for valid JSON, with Raw sharing b.
func decodeUserShared(b []byte) User {
	u := User{Raw: b}
	var idRaw, caRaw, emailRaw, idsRaw []byte
	ok := jsonscan.Members(b, func(key []byte, vs, ve int) bool {
		switch string(key) { // later duplicates win, as in encoding/json
		case "user_id":
			idRaw = b[vs:ve]
		case "created_at":
			caRaw = b[vs:ve]
		case "email":
			emailRaw = b[vs:ve]
		case "identities":
			idsRaw = b[vs:ve]
		}
		return true
	})
	if !ok {
		u.Problem = &UserProblem{Reason: ReasonNotObject, Detail: "want a JSON object, got " + jsonKind(b)}
		return u
	}
	var idBad, caBad, emailBad string
	u.UserID, idBad = stringMember(idRaw)
	u.CreatedAt, caBad = stringMember(caRaw)
	u.Email, emailBad = stringMember(emailRaw)
	if len(idsRaw) > 0 {
		// Best effort: identities are passed through, never a reason to drop a user.
		if ids, fast := decodeIdentitiesFast(idsRaw); fast {
			u.Identities = ids
		} else if json.Unmarshal(idsRaw, &u.Identities) != nil {
			u.Identities = nil
		}
	}
	given := u.CreatedAt
	if caBad != "" {
		given = string(caRaw)
	}
	switch {
	case idBad != "":
		u.Problem = &UserProblem{Reason: ReasonBadUserID, Field: "user_id", Detail: idBad}
	case caBad != "":
		u.Problem = &UserProblem{Reason: ReasonBadCreatedAt, Field: "created_at", Detail: caBad}
	case emailBad != "":
		u.Problem = &UserProblem{Reason: ReasonBadEmail, Field: "email", Detail: emailBad}
	default:
		u.Problem = checkUser(&u)
	}
	if u.Problem != nil {
		u.Problem.CreatedAtGiven = given
	}
	return u
}

// checkUser validates the typed fields of a user whose members had the
// right JSON types: nil when usable.
func checkUser(u *User) *UserProblem {
	switch {
	case u.UserID == "":
		return &UserProblem{Reason: ReasonNoUserID, Field: "user_id", Detail: "absent or empty", CreatedAtGiven: u.CreatedAt}
	case hasControl(u.UserID):
		return &UserProblem{Reason: ReasonBadUserID, Field: "user_id", Detail: "contains control characters", CreatedAtGiven: u.CreatedAt}
	case u.CreatedAt == "":
		return &UserProblem{Reason: ReasonBadCreatedAt, Field: "created_at", Detail: "absent or empty"}
	}
	if _, err := time.Parse(time.RFC3339Nano, u.CreatedAt); err != nil {
		return &UserProblem{Reason: ReasonBadCreatedAt, Field: "created_at", Detail: fmt.Sprintf("%q is not an RFC 3339 time", clip(u.CreatedAt, 64)), CreatedAtGiven: u.CreatedAt}
	}
	return nil
}

// stringMember decodes a member that must be a JSON string (or null or
// absent, both ""); bad says what was wrong otherwise.
func stringMember(v []byte) (s, bad string) {
	if len(v) == 0 || string(v) == "null" {
		return "", ""
	}
	s, ok := jsonStringValue(v)
	if !ok {
		return "", "want a string, got " + jsonKind(v)
	}
	return s, ""
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// jsonKind names the JSON type of v for error messages.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch c := v[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid JSON"
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// CheckUser validates a user built by hand (decoded users carry Problem
// already): nil when the worker can use it.
func CheckUser(u User) *UserProblem { return checkUser(&u) }
