package consumer

import (
	"bytes"
	"encoding/json"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// MaxBodyBytes is the largest command body accepted (Auth0's own limit is
// 1 MB on every endpoint, so a bigger body could never succeed).
const MaxBodyBytes = 1_000_000

// Search limits of the users.search command.
const (
	DefaultSearchLimit = 50
	MaxSearchLimit     = auth0.SearchCap
)

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	phonePattern = regexp.MustCompile(`^\+[0-9]{1,15}$`)
)

// ValidID reports whether s is a valid command id or Idempotency-Key
// ([A-Za-z0-9_-]{1,128}).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// kind is the JSON type a field must have.
type kind int

const (
	kString kind = iota
	kBool
	kObject
	kInt
	kAny
)

func (k kind) String() string {
	switch k {
	case kString:
		return "a string"
	case kBool:
		return "a boolean"
	case kObject:
		return "an object"
	case kInt:
		return "an integer"
	}
	return "any JSON value"
}

// jsonType names the type of a raw JSON value for error messages.
func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func matches(k kind, raw json.RawMessage) bool {
	t := jsonType(raw)
	switch k {
	case kString:
		return t == "string"
	case kBool:
		return t == "boolean"
	case kObject:
		return t == "object"
	case kInt:
		if t != "number" {
			return false
		}
		_, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		return err == nil
	}
	return true
}

// schema is the set of fields a command body may carry.
type schema struct {
	fields    map[string]kind
	required  []string
	allowNull bool // null accepted for every non-required field (update)
}

// decodeObject is the strict decoder every command uses: size limit, valid
// JSON, a top-level object, no unknown fields, every field of its type.
// Messages name the field and say what was wrong.
func decodeObject(data []byte, s schema) (map[string]json.RawMessage, error) {
	if len(data) > MaxBodyBytes {
		return nil, invalidf("body is %d bytes; the limit is %d", len(data), MaxBodyBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, invalidf("body is empty; want a JSON object")
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		msg := "malformed"
		if err != nil {
			msg = err.Error()
		}
		return nil, invalidf("invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
	}
	if trimmed[0] != '{' {
		return nil, invalidf("body must be a JSON object, got %s", jsonType(trimmed))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return nil, invalidf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return m, s.check(m)
}

// check applies the schema to a decoded object: no unknown field, every
// field of its type, the required ones present (and non-empty strings).
func (s schema) check(m map[string]json.RawMessage) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want, ok := s.fields[k]
		if !ok {
			return invalidf("unknown field %q", k)
		}
		raw := m[k]
		if s.allowNull && jsonType(raw) == "null" && !slices.Contains(s.required, k) {
			continue
		}
		if !matches(want, raw) {
			return invalidf("field %q must be %s, got %s", k, want, jsonType(raw))
		}
	}
	for _, k := range s.required {
		raw, ok := m[k]
		if !ok {
			return invalidf("field %q is required", k)
		}
		if s.fields[k] == kString && str(raw) == "" {
			return invalidf("field %q must not be empty", k)
		}
	}
	return nil
}

// str decodes a raw JSON string already checked to be one ("" otherwise).
func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

func checkEmail(field, v string) error {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" || strings.ContainsAny(v, " \t\r\n") || len(v) > 254 {
		return invalidf("field %q is not a valid email address", field)
	}
	return nil
}

func checkPhone(field, v string) error {
	if !phonePattern.MatchString(v) {
		return invalidf("field %q must be in E.164 form, like +14155550100", field)
	}
	return nil
}

// decodeUserBody is decodeObject for a user's fields (create, update):
// email and phone_number are checked too.
func decodeUserBody(data []byte, s schema) (map[string]json.RawMessage, error) {
	m, err := decodeObject(data, s)
	if err != nil {
		return nil, err
	}
	return m, checkFormats(m)
}

// checkFormats validates email and phone_number when present (non-null).
func checkFormats(m map[string]json.RawMessage) error {
	if raw, ok := m["email"]; ok && jsonType(raw) == "string" {
		if err := checkEmail("email", str(raw)); err != nil {
			return err
		}
	}
	if raw, ok := m["phone_number"]; ok && jsonType(raw) == "string" {
		if err := checkPhone("phone_number", str(raw)); err != nil {
			return err
		}
	}
	return nil
}

var createSchema = schema{fields: map[string]kind{
	"connection": kString, "email": kString, "phone_number": kString,
	"user_metadata": kObject, "app_metadata": kObject,
	"blocked": kBool, "email_verified": kBool, "phone_verified": kBool, "verify_email": kBool,
	"given_name": kString, "family_name": kString, "name": kString, "nickname": kString,
	"picture": kString, "user_id": kString, "password": kString, "username": kString,
}, required: []string{"connection"}}

// updateSchema: user_id plus Auth0's updatable user properties. Read-only
// ones (created_at, identities, ...) are refused here rather than by Auth0.
var updateSchema = schema{fields: map[string]kind{
	"user_id": kString, "connection": kString, "client_id": kString,
	"email": kString, "phone_number": kString,
	"user_metadata": kObject, "app_metadata": kObject,
	"blocked": kBool, "email_verified": kBool, "phone_verified": kBool,
	"verify_email": kBool, "verify_phone_number": kBool, "verify_password": kBool,
	"given_name": kString, "family_name": kString, "name": kString, "nickname": kString,
	"picture": kString, "password": kString, "username": kString,
}, required: []string{"user_id"}, allowNull: true}

var userIDSchema = schema{fields: map[string]kind{"user_id": kString}, required: []string{"user_id"}}

var searchSchema = schema{fields: map[string]kind{"query": kString, "limit": kInt, "sort": kString, "fields": kString}}

var byEmailSchema = schema{fields: map[string]kind{"email": kString}, required: []string{"email"}}

var apiCallSchema = schema{fields: map[string]kind{
	"method": kString, "path": kString, "query": kObject, "headers": kObject, "body": kAny,
}, required: []string{"method", "path"}}

// createCmd is a validated users.create body, forwarded to Auth0 verbatim.
type createCmd struct {
	body       json.RawMessage
	connection string
	email      string // as sent
	userID     string // chosen id, if any
}

func decodeCreate(data []byte) (createCmd, error) {
	m, err := decodeUserBody(data, createSchema)
	if err != nil {
		return createCmd{}, err
	}
	c := createCmd{body: json.RawMessage(bytes.TrimSpace(data)), connection: str(m["connection"])}
	if raw, ok := m["email"]; ok {
		c.email = str(raw)
	}
	if raw, ok := m["user_id"]; ok {
		if err := checkUserID(raw); err != nil {
			return createCmd{}, err
		}
		c.userID = str(raw)
	}
	return c, nil
}

// updateCmd is a validated users.update: the id and the patch without it.
type updateCmd struct {
	userID string
	patch  json.RawMessage
}

func decodeUpdate(data []byte) (updateCmd, error) {
	m, err := decodeUserBody(data, updateSchema)
	if err != nil {
		return updateCmd{}, err
	}
	id := str(m["user_id"])
	if err := checkUserID(m["user_id"]); err != nil {
		return updateCmd{}, err
	}
	delete(m, "user_id")
	if len(m) == 0 {
		return updateCmd{}, invalidf("no field to update besides \"user_id\"")
	}
	patch, err := json.Marshal(m)
	if err != nil {
		return updateCmd{}, invalidf("body: %v", err)
	}
	return updateCmd{userID: id, patch: patch}, nil
}

func decodeUserID(data []byte) (string, error) {
	m, err := decodeObject(data, userIDSchema)
	if err != nil {
		return "", err
	}
	if err := checkUserID(m["user_id"]); err != nil {
		return "", err
	}
	return str(m["user_id"]), nil
}

// checkUserID refuses a user_id that would not name one user in a URL
// path: "." and ".." (dot segments), invalid UTF-8 (JSON decoding would
// silently turn it into U+FFFD) and control characters.
func checkUserID(raw json.RawMessage) error {
	if !utf8.Valid(raw) {
		return invalidf("field \"user_id\" is not valid UTF-8")
	}
	id := str(raw)
	switch {
	case id == "." || id == "..":
		return invalidf("field \"user_id\" must not be %q", id)
	case strings.ContainsRune(id, utf8.RuneError):
		return invalidf("field \"user_id\" is not valid UTF-8 (holds U+FFFD or a lone surrogate)")
	case hasControl(id):
		return invalidf("field \"user_id\" contains a control character")
	}
	return nil
}

// MaxSearchQueryBytes bounds users.search "query" (README "Commands").
const MaxSearchQueryBytes = 4096

// searchCmd is a validated users.search.
type searchCmd struct {
	query, sort, fields string
	limit               int
}

func decodeSearch(data []byte) (searchCmd, error) {
	m, err := decodeObject(data, searchSchema)
	if err != nil {
		return searchCmd{}, err
	}
	c := searchCmd{limit: DefaultSearchLimit, query: str(m["query"]), sort: str(m["sort"]), fields: str(m["fields"])}
	if len(c.query) > MaxSearchQueryBytes {
		return searchCmd{}, invalidf("field \"query\" is %d bytes; the limit is %d", len(c.query), MaxSearchQueryBytes)
	}
	if raw, ok := m["limit"]; ok {
		n, _ := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if n < 1 || n > MaxSearchLimit {
			return searchCmd{}, invalidf("field \"limit\" must be between 1 and %d, got %d", MaxSearchLimit, n)
		}
		c.limit = int(n)
	}
	return c, nil
}

func decodeByEmail(data []byte) (string, error) {
	m, err := decodeObject(data, byEmailSchema)
	if err != nil {
		return "", err
	}
	e := str(m["email"])
	if err := checkEmail("email", e); err != nil {
		return "", err
	}
	return e, nil
}

// allowedHeaders are the caller headers an api.call passes to Auth0
// (canonical form). Anything else is refused rather than silently dropped,
// so a caller learns at once that its header never reached Auth0.
var allowedHeaders = []string{"Accept", "Content-Type", "X-Correlation-Id"}

var apiMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func decodeAPICall(data []byte) (auth0.RawRequest, error) {
	m, err := decodeObject(data, apiCallSchema)
	if err != nil {
		return auth0.RawRequest{}, err
	}
	r := auth0.RawRequest{Method: str(m["method"]), Path: str(m["path"])}
	if !slices.Contains(apiMethods, r.Method) {
		return auth0.RawRequest{}, invalidf("field \"method\" must be one of %s (upper case), got %q", strings.Join(apiMethods, ", "), r.Method)
	}
	p, err := cleanAPICallPath(r.Path)
	if err != nil {
		return auth0.RawRequest{}, err
	}
	if err := auth0.CheckAPIPath(p); err != nil {
		return auth0.RawRequest{}, invalidf("field \"path\": %s", oneLine(strings.TrimPrefix(err.Error(), "auth0: ")))
	}
	r.Path = p
	if raw, ok := m["query"]; ok {
		if r.Query, err = decodeAPIQuery(raw); err != nil {
			return auth0.RawRequest{}, err
		}
	}
	if raw, ok := m["headers"]; ok {
		if r.Headers, err = decodeAPIHeaders(raw); err != nil {
			return auth0.RawRequest{}, err
		}
	}
	if raw, ok := m["body"]; ok {
		r.Body = raw
	}
	return r, nil
}

// decodeAPIQuery reads api.call "query": each member a string or an array
// of strings.
func decodeAPIQuery(raw json.RawMessage) (url.Values, error) {
	var q map[string]json.RawMessage
	_ = json.Unmarshal(raw, &q)
	out := url.Values{}
	for _, k := range sortedKeys(q) {
		v := q[k]
		switch jsonType(v) {
		case "string":
			out.Add(k, str(v))
		case "array":
			var vals []json.RawMessage
			_ = json.Unmarshal(v, &vals)
			for _, e := range vals {
				if jsonType(e) != "string" {
					return nil, invalidf("field \"query.%s\" must be a string or an array of strings, got an array with a %s", k, jsonType(e))
				}
				out.Add(k, str(e))
			}
		default:
			return nil, invalidf("field \"query.%s\" must be a string or an array of strings, got %s", k, jsonType(v))
		}
	}
	return out, nil
}

// decodeAPIHeaders reads api.call "headers": string values of the allowed
// headers only, in canonical form.
func decodeAPIHeaders(raw json.RawMessage) (map[string]string, error) {
	var h map[string]json.RawMessage
	_ = json.Unmarshal(raw, &h)
	out := map[string]string{}
	for _, k := range sortedKeys(h) {
		v := h[k]
		if jsonType(v) != "string" {
			return nil, invalidf("field \"headers.%s\" must be a string, got %s", k, jsonType(v))
		}
		canon := canonicalHeader(k)
		switch {
		case canon == "Authorization" || canon == "Host":
			return nil, invalidf("field \"headers.%s\": the caller may not set %s", k, canon)
		case !slices.Contains(allowedHeaders, canon):
			return nil, invalidf("field \"headers.%s\": header not allowed (allowed: Accept, Content-Type, X-Correlation-ID)", k)
		}
		val := str(v)
		if hasControl(val) {
			return nil, invalidf("field \"headers.%s\" contains a control character", k)
		}
		out[canon] = val
	}
	return out, nil
}

func canonicalHeader(k string) string {
	parts := strings.Split(strings.ToLower(k), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// oneLine makes s safe for a single header line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// dotLike are characters that read as a full stop, or normalise to dots
// (NFKC), in some server or proxy: a segment made only of them could act
// as a dot segment somewhere on the way.
var dotLike = []rune{'.', '\u2024', '\u2025', '\u2026', '\uFE52', '\uFF0E', '\u3002', '\uFF61'}

// cleanAPICallPath applies the api.call path rules of README "Commands" to
// "/path[?query]": the path is percent-decoded once, segment by segment (a
// malformed escape → 400); an empty segment (//), a segment that is only
// dot-like characters, or one holding ';', a backslash, a control character
// or invalid UTF-8 → 400; every segment is then re-encoded, so what is sent
// is exactly what was checked. The query is left to auth0.CheckAPIPath.
func cleanAPICallPath(p string) (string, error) {
	pathPart, query, hasQuery := strings.Cut(p, "?")
	if !strings.HasPrefix(pathPart, "/") {
		return "", invalidf("field \"path\" must start with / (relative to /api/v2, e.g. /users)")
	}
	segs := strings.Split(pathPart[1:], "/")
	for i, raw := range segs {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return "", invalidf("field \"path\": malformed percent-encoding in segment %d", i+1)
		}
		if why := badSegment(seg, i == len(segs)-1); why != "" {
			return "", invalidf("field \"path\": segment %d %s", i+1, why)
		}
		segs[i] = url.PathEscape(seg)
	}
	out := "/" + strings.Join(segs, "/")
	if hasQuery {
		out += "?" + query
	}
	return out, nil
}

func badSegment(seg string, last bool) string {
	switch {
	case seg == "" && !last:
		return "is empty (// in the path)"
	case seg == "":
		return ""
	case !utf8.ValidString(seg):
		return "is not valid UTF-8"
	case hasControl(seg):
		return "contains a control character"
	case strings.ContainsAny(seg, ";\\"):
		return "contains ; or a backslash"
	}
	for _, r := range seg {
		if !slices.Contains(dotLike, r) {
			return ""
		}
	}
	return "is a dot segment (only dot-like characters)"
}
