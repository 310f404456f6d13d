package auth0

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/auth0-worker/auth0-worker/internal/jsonscan"
)

// Fast decoding of user.* event payloads.
//
// The generic path (json.Unmarshal into a struct holding *User, whose
// UnmarshalJSON decodes again and copies Raw) validates and scans the user
// object three to four times and copies it twice. On a busy stream that is
// the client's largest cost. decodeUserEventFast validates the payload once
// with json.Valid, then walks only the few members on the way to the user
// (event.id, event.data.object) and the user's typed top-level fields,
// leaving every other value unparsed. It gives up (ok false) on anything
// where encoding/json's rules are subtle — a duplicate or case-folded
// member name, an escaped key, a value of an unexpected type — and the
// caller then takes the generic path, so both always agree.

// decodeUserEvent is the one entry to user.* payload decoding: it returns
// the user object of data.event.data.object (nil when absent) and the
// CloudEvent id data.event.id. The hand-written fast path decides the common
// shape; anything else, every invalid payload included, goes to
// encoding/json (decodeUserEventGeneric), so both always agree
// (FuzzDecodeUserEvent compares them). BENCHMARKS.md "JSON fast path" has
// the numbers that keep the fast path.
func decodeUserEvent(data []byte) (*User, string, error) {
	if u, id, ok := decodeUserEventFast(data); ok {
		return u, id, nil
	}
	return decodeUserEventGeneric(data)
}

// decodeUserEventGeneric is decodeUserEvent by encoding/json alone.
func decodeUserEventGeneric(data []byte) (*User, string, error) {
	var p struct {
		Event struct {
			ID   string `json:"id"`
			Data struct {
				Object *User `json:"object"`
			} `json:"data"`
		} `json:"event"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, "", err
	}
	return p.Event.Data.Object, p.Event.ID, nil
}

// decodeUserEventFast returns the user object of data.event.data.object and
// the CloudEvent id data.event.id. data must not be modified afterwards:
// u.Raw is a sub-slice of it (capacity-limited, so appending to Raw copies).
// ok is false when the generic decoder must decide (including every invalid
// payload, so its error messages are kept).
func decodeUserEventFast(data []byte) (u *User, eventID string, ok bool) {
	// One walk over the payload validates it (as json.Valid would) while
	// entering the members on the way to the user; every other value is
	// validated and skipped in the same pass. Depths: payload 1, event 2,
	// data 3, user 4.
	var (
		gotEvent, gotID, gotData bool
		objS, objE               = -1, -1
	)
	onData := func(key []byte, vs int) int {
		switch {
		case string(key) == "object":
			if objS >= 0 || data[vs] != '{' {
				return -1
			}
			st := &userState{u: &User{}}
			u = st.u
			objS, objE = vs, walkObject(data, vs, 4, func(key []byte, vs int) int { return st.member(data, key, vs) })
			return objE
		case foldsTo(key, "object"):
			return -1
		}
		return 0
	}
	onEvent := func(key []byte, vs int) int {
		switch {
		case string(key) == "id":
			if gotID {
				return -1
			}
			gotID = true
			var e int
			eventID, e = stringAt(data, vs, 2)
			return e
		case string(key) == "data":
			if gotData || data[vs] != '{' {
				return -1
			}
			gotData = true
			return walkObject(data, vs, 3, onData)
		case foldsTo(key, "id", "data"):
			return -1
		}
		return 0
	}
	end := walkObject(data, jsonscan.SkipSpace(data, 0), 1, func(key []byte, vs int) int {
		switch {
		case string(key) == "event":
			if gotEvent || data[vs] != '{' {
				return -1
			}
			gotEvent = true
			return walkObject(data, vs, 2, onEvent)
		case foldsTo(key, "event"):
			return -1
		}
		return 0
	})
	if end < 0 || jsonscan.SkipSpace(data, end) != len(data) || objS < 0 || objE < 0 {
		return nil, "", false
	}
	u.Raw = data[objS:objE:objE]
	u.Problem = checkUser(u)
	return u, eventID, true
}

// stringAt decodes the JSON string value starting at vs (at nesting depth)
// and returns it with the index after it; -1 when it is no valid string.
func stringAt(data []byte, vs, depth int) (string, int) {
	e, ok := validValue(data, vs, depth)
	if !ok {
		return "", -1
	}
	str, ok := jsonStringValue(data[vs:e])
	if !ok {
		return "", -1
	}
	return str, e
}

// userState is a user being decoded: which typed members were seen.
type userState struct {
	u    *User
	seen [4]bool
}

// member decodes one top-level member of a user object: the walkObject
// callback (value end, 0 to skip, -1 to give up).
func (st *userState) member(data, key []byte, vs int) int {
	u := st.u
	var dst *string
	f := 0
	switch string(key) {
	case "user_id":
		dst, f = &u.UserID, 0
	case "email":
		dst, f = &u.Email, 1
	case "created_at":
		dst, f = &u.CreatedAt, 2
	case "identities":
		f = 3
	default:
		if foldsTo(key, "user_id", "email", "created_at", "identities") {
			return -1
		}
		return 0
	}
	if st.seen[f] {
		return -1 // repeated: the generic path decides
	}
	st.seen[f] = true
	e, ok := validValue(data, vs, 4)
	if !ok {
		return -1
	}
	v := data[vs:e]
	if dst == nil {
		ids, ok := decodeIdentitiesFast(v)
		if !ok && json.Unmarshal(v, &ids) != nil {
			// FlexString and the struct rules: the standard decoder.
			return -1
		}
		u.Identities = ids
		return e
	}
	if string(v) == "null" {
		return e // encoding/json leaves the field as it is
	}
	s, ok := jsonStringValue(v)
	if !ok {
		return -1
	}
	*dst = s
	return e
}

// walkObject walks the object whose '{' is at b[i], at nesting depth depth,
// validating it as json.Valid does, and calls fn for each member with its
// raw key and the start of its value. fn returns the end of the value when
// it consumed (and validated) it, 0 to have it validated and skipped, or -1
// to stop. walkObject returns the index after the closing '}', or -1.
func walkObject(b []byte, i, depth int, fn func(key []byte, vs int) int) int {
	if i >= len(b) || b[i] != '{' || depth > maxJSONDepth {
		return -1
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for i < len(b) {
		if b[i] != '"' {
			return -1
		}
		kEnd, ok := validString(b, i)
		if !ok {
			return -1
		}
		key := b[i+1 : kEnd-1]
		i = jsonscan.SkipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		vs := jsonscan.SkipSpace(b, i+1)
		if vs >= len(b) {
			return -1
		}
		ve := fn(key, vs)
		switch {
		case ve < 0:
			return -1
		case ve == 0:
			if ve, ok = validValue(b, vs, depth); !ok {
				return -1
			}
		}
		i = jsonscan.SkipSpace(b, ve)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
	return -1
}

// decodeIdentitiesFast decodes an identities array whose elements are
// objects with plain members; not ok for anything else (null elements,
// values of other types, duplicate or case-folded names), which the standard
// decoder then handles.
func decodeIdentitiesFast(v []byte) ([]Identity, bool) {
	if string(v) == "null" {
		return nil, true
	}
	n, ok := countObjects(v)
	if !ok {
		return nil, false
	}
	out := make([]Identity, n)
	k := 0
	for i := jsonscan.SkipSpace(v, 1); i < len(v) && v[i] != ']' && k < n; k++ {
		e := jsonscan.ValueEnd(v, i)
		if !decodeIdentityFast(v[i:e], &out[k]) {
			return nil, false
		}
		i = jsonscan.SkipSpace(v, e)
		if i < len(v) && v[i] == ',' {
			i = jsonscan.SkipSpace(v, i+1)
		}
	}
	return out, true
}

// countObjects counts the elements of the array v; not ok unless every
// element is an object.
func countObjects(v []byte) (int, bool) {
	if len(v) < 2 || v[0] != '[' {
		return 0, false
	}
	n := 0
	for i := jsonscan.SkipSpace(v, 1); i < len(v) && v[i] != ']'; {
		if v[i] != '{' {
			return 0, false
		}
		e := jsonscan.ValueEnd(v, i)
		if e < 0 {
			return 0, false
		}
		n++
		i = jsonscan.SkipSpace(v, e)
		if i < len(v) && v[i] == ',' {
			i = jsonscan.SkipSpace(v, i+1)
		}
	}
	return n, true
}

// identityFields are the members of an identity the fast path decodes, in
// the order of identityField's cases.
var identityFields = [...]string{"connection", "provider", "user_id", "isSocial"}

// decodeIdentityFast decodes one identity object el into id.
func decodeIdentityFast(el []byte, id *Identity) bool {
	var seen [len(identityFields)]bool
	return jsonscan.Members(el, func(key []byte, vs, ve int) bool {
		f := identityFieldIndex(key)
		if f < 0 {
			return !foldsTo(key, identityFields[:]...)
		}
		if seen[f] {
			return false
		}
		seen[f] = true
		val := el[vs:ve]
		return string(val) == "null" || identityField(id, f, val)
	})
}

func identityFieldIndex(key []byte) int {
	for f, name := range identityFields {
		if string(key) == name {
			return f
		}
	}
	return -1
}

// identityField sets member f (an index of identityFields) of id from val.
func identityField(id *Identity, f int, val []byte) (ok bool) {
	switch f {
	case 0:
		id.Connection, ok = jsonStringValue(val)
	case 1:
		id.Provider, ok = jsonStringValue(val)
	case 2:
		if val[0] == '"' {
			var s string
			s, ok = jsonStringValue(val)
			id.UserID = FlexString(s)
		} else if val[0] == '-' || (val[0] >= '0' && val[0] <= '9') {
			id.UserID, ok = FlexString(val), true // json.Number keeps the literal
		}
	case 3:
		switch string(val) {
		case "true":
			id.IsSocial, ok = true, true
		case "false":
			id.IsSocial, ok = false, true
		}
	}
	return ok
}

// foldsTo reports whether key could be decoded by encoding/json into a
// field named one of names without being exactly it: an escaped key (which
// may unescape to a name) or a case-insensitive match.
func foldsTo(key []byte, names ...string) bool {
	ascii := true
	for _, c := range key {
		if c == '\\' {
			return true
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	for _, n := range names {
		if ascii && len(key) != len(n) {
			continue // ASCII folds keep the length
		}
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// jsonStringValue returns the string a JSON string literal v decodes to;
// not ok when v is not a string. Literals without escapes and with valid
// UTF-8 are taken as they are; others go through encoding/json (which
// replaces invalid UTF-8).
func jsonStringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonValid is json.Valid, faster: a recursive descent that runs through
// string contents in a tight loop instead of one state-machine call per
// byte. It accepts exactly what json.Valid accepts (FuzzJSONValid checks),
// including invalid UTF-8 inside strings and nesting up to 10,000 levels.
func jsonValid(b []byte) bool {
	i := jsonscan.SkipSpace(b, 0)
	end, ok := validValue(b, i, 0)
	if !ok {
		return false
	}
	return jsonscan.SkipSpace(b, end) == len(b)
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return validString(b, i)
	case c == '{':
		return validObject(b, i, depth+1)
	case c == '[':
		return validArray(b, i, depth+1)
	case c == 't':
		return validLiteral(b, i, "true")
	case c == 'f':
		return validLiteral(b, i, "false")
	case c == 'n':
		return validLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(b, i)
	}
	return 0, false
}

// validObject checks the object starting at the brace at i, at nesting depth.
func validObject(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		var ok bool
		if i, ok = validString(b, i); !ok {
			return 0, false
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = validValue(b, jsonscan.SkipSpace(b, i+1), depth); !ok {
			return 0, false
		}
		var end bool
		if i, end, ok = validNext(b, i, '}'); !ok || end {
			return i, ok
		}
	}
}

// validArray checks the array starting at the bracket at i, at nesting depth.
func validArray(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok, end bool
		if i, ok = validValue(b, i, depth); !ok {
			return 0, false
		}
		if i, end, ok = validNext(b, i, ']'); !ok || end {
			return i, ok
		}
	}
}

// validNext reads what follows a member or element: a comma (then i is the
// next one's start) or the closing byte (end, i just past it).
func validNext(b []byte, i int, closing byte) (next int, end, ok bool) {
	i = jsonscan.SkipSpace(b, i)
	switch {
	case i >= len(b):
		return 0, false, false
	case b[i] == ',':
		return jsonscan.SkipSpace(b, i+1), false, true
	case b[i] == closing:
		return i + 1, true, true
	}
	return 0, false, false
}

func validLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// validString checks the string starting at the quote at i.
func validString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 {
					return 0, false
				}
				for _, h := range b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, false
					}
				}
				j += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		s := i + 1
		if i = digitsEnd(b, s); i == s {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		if i = digitsEnd(b, s); i == s {
			return 0, false
		}
	}
	return i, true
}

// digitsEnd returns the index after the run of ASCII digits starting at i.
func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
