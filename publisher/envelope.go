package publisher

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/jsonscan"
)

// EventType is the CloudEvents type of a new user (CloudEventsType gives
// the others).
const EventType = "com.auth0.user.created"

// ContentType is the Content-Type header of an event (structured mode).
const ContentType = "application/cloudevents+json"

// ErrInvalidUser means a user cannot become an event: no user_id or
// created_at, or no raw JSON object. The user is not published.
var ErrInvalidUser = errors.New("invalid user")

// envelope writes CloudEvents 1.0 structured JSON around the user's raw JSON.
// The constant parts are built once per Publisher; per event only the
// strings are escaped and the data copied.
type envelope struct {
	afterID [3]string // per kindIndex: ,"source":"...","type":"...","subject":
	fields  []string
	// truncFields are the members a truncated event keeps (README "Bad data").
	truncFields []string
}

func newEnvelope(source string, fields []string) envelope {
	var after [3]string
	for i, kind := range Types {
		b := []byte(`,"source":`)
		b = appendJSONString(b, source)
		b = append(b, `,"type":"`+CloudEventsType(kind)+`","subject":`...)
		after[i] = string(b)
	}
	var fs []string
	if len(fields) > 0 {
		// user_id, created_at, updated_at and deleted_at (when present)
		// always, first, so a consumer can drop stale updates; then the
		// listed ones in order.
		fs = []string{"user_id", "created_at", "updated_at", "deleted_at"}
		for _, f := range fields {
			if f != "" && !containsStr(fs, f) {
				fs = append(fs, f)
			}
		}
	}
	trunc := []string{"user_id", "created_at", "updated_at", "deleted_at"}
	if len(fields) == 0 || containsStr(fields, "email") {
		trunc = append(trunc, "email")
	}
	return envelope{afterID: after, fields: fs, truncFields: trunc}
}

func containsStr(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// build returns the event id and the message body for u. A traceparent
// (tracing on) becomes the CloudEvents distributed-tracing extension
// attribute; "" adds nothing.
func (e envelope) build(u auth0.User, traceparent string) (string, []byte, error) {
	return e.buildWith(u, e.fields, false, traceparent)
}

// truncated is build with data reduced to user_id, created_at, updated_at,
// deleted_at and (when EVENT_FIELDS allows) email, and the CloudEvents
// extension auth0truncated: true: the event of a user too large to publish
// whole (consumers fetch the full user with users.get).
func (e envelope) truncated(u auth0.User, traceparent string) (string, []byte, error) {
	return e.buildWith(u, e.truncFields, true, traceparent)
}

func (e envelope) buildWith(u auth0.User, fields []string, truncated bool, traceparent string) (string, []byte, error) {
	switch {
	case u.Problem != nil:
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidUser, u.Problem)
	case u.UserID == "":
		return "", nil, fmt.Errorf("%w: no user_id", ErrInvalidUser)
	case u.CreatedAt == "":
		return "", nil, fmt.Errorf("%w: user %s has no created_at", ErrInvalidUser, u.UserID)
	case strings.ContainsAny(u.UserID, "\r\n") || strings.ContainsAny(u.CreatedAt, "\r\n"):
		// Nats-Msg-Id is a header: a line break would split it.
		return "", nil, fmt.Errorf("%w: user_id or created_at of %q contains a line break", ErrInvalidUser, u.UserID)
	}
	if p := CheckKind(u); p != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrInvalidUser, p)
	}
	id := EventID(u)
	evTime := EventTime(u)
	data, err := e.data(u, fields)
	if err != nil {
		return "", nil, fmt.Errorf("%w: user %s: %v", ErrInvalidUser, u.UserID, err)
	}
	data = withTimeField(data, u, evTime)
	after := e.afterID[kindIndex(u)]
	b := make([]byte, 0, len(data)+len(after)+2*len(id)+len(evTime)+len(traceparent)+128)
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendJSONString(b, id)
	b = append(b, after...)
	b = appendJSONString(b, u.UserID)
	b = append(b, `,"time":`...)
	b = appendJSONString(b, evTime)
	if truncated {
		b = append(b, `,"auth0truncated":true`...)
	}
	if traceparent != "" {
		b = append(b, `,"traceparent":`...)
		b = appendJSONString(b, traceparent)
	}
	b = append(b, `,"datacontenttype":"application/json","data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return id, b, nil
}

// data is the user's raw JSON untouched, or, with EVENT_FIELDS, an object of
// the listed top-level fields whose values are the raw bytes Auth0 sent.
// Raw is trusted to be valid JSON (auth0 decoding produced it); only its
// outer shape is checked here, so the hot path does not re-scan every byte.
func (e envelope) data(u auth0.User, fields []string) ([]byte, error) {
	raw := trimSpace(u.Raw)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return nil, errors.New("no raw JSON object (auth0.User.Raw)")
	}
	if fields == nil {
		return raw, nil
	}
	// One pass over the top-level members, remembering where each wanted
	// value lies; then write them in EVENT_FIELDS order. No decoding of the
	// values, no map.
	var spansArr [16][2]int
	spans := spansArr[:0]
	if len(fields) > len(spansArr) {
		spans = make([][2]int, 0, len(fields))
	}
	spans = spans[:len(fields)]
	for i := range spans {
		spans[i] = [2]int{-1, -1}
	}
	err := topLevelMembers(raw, func(key []byte, vStart, vEnd int) {
		for i, f := range fields {
			if spans[i][0] < 0 && string(key) == f {
				spans[i] = [2]int{vStart, vEnd}
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(raw))
	b = append(b, '{')
	n := 0
	for i, f := range fields {
		if n > 0 {
			b = append(b, ',')
		}
		switch {
		case spans[i][0] >= 0:
			b = appendJSONString(b, f)
			b = append(b, ':')
			b = append(b, raw[spans[i][0]:spans[i][1]]...)
		case f == "user_id": // always present, even when the raw object lacks it
			b = append(b, `"user_id":`...)
			b = appendJSONString(b, u.UserID)
		case f == "created_at":
			b = append(b, `"created_at":`...)
			b = appendJSONString(b, u.CreatedAt)
		default:
			if n > 0 {
				b = b[:len(b)-1]
			}
			continue
		}
		n++
	}
	return append(b, '}'), nil
}

// withTimeField makes sure the data of an updated or deleted event holds
// its time member (updated_at / deleted_at): when the object has none, the
// event's time (EventTime's fallback) is added first, so a consumer can
// always compare versions. Created events and objects that have it are
// returned as they are.
func withTimeField(data []byte, u auth0.User, evTime string) []byte {
	if u.Kind == "" || u.Kind == TypeCreated {
		return data
	}
	name := timeField(u.Kind)
	if _, ok := stringMember(data, name); ok {
		return data
	}
	b := make([]byte, 0, len(data)+len(name)+len(evTime)+8)
	b = append(b, '{')
	b = appendJSONString(b, name)
	b = append(b, ':')
	b = appendJSONString(b, evTime)
	rest := trimSpace(data)[1:]
	if r := trimSpace(rest); len(r) > 0 && r[0] != '}' {
		b = append(b, ',')
	}
	return append(b, rest...)
}

var errMalformed = errors.New("raw JSON object is malformed")

// topLevelMembers calls fn for each member of the JSON object obj with the
// member's key (raw, without quotes; keys with escapes are passed escaped,
// which never equals a plain field name) and the byte range of its value.
func topLevelMembers(obj []byte, fn func(key []byte, vStart, vEnd int)) error {
	if !jsonscan.Members(obj, func(key []byte, vs, ve int) bool { fn(key, vs, ve); return true }) {
		return errMalformed
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (as
// encoding/json does). HTML characters are left alone.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
