package emulator

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Lucene subset Auth0's user search v3 accepts (its query-syntax page): field:value,
// field:"phrase", prefix field:abc*, field:* (has the field), ranges with
// [ ] { } and * for an open end, AND / OR / NOT (and && || ! - +),
// parentheses, field:(a OR b). Juxtaposed terms are ORed (Lucene's default
// operator) except a term starting with NOT or -, which is ANDed. Values are
// not tokenized. email, name, given_name, family_name and nickname match
// case-insensitively, every other field case-sensitively. Metadata fields
// accept exact matches only.

// node is one parsed query expression.
type node interface {
	match(u *user, v *version) bool
}

type andNode struct{ kids []node }
type orNode struct{ kids []node }
type notNode struct{ kid node }
type allNode struct{}

func (n andNode) match(u *user, v *version) bool {
	for _, k := range n.kids {
		if !k.match(u, v) {
			return false
		}
	}
	return true
}

func (n orNode) match(u *user, v *version) bool {
	for _, k := range n.kids {
		if k.match(u, v) {
			return true
		}
	}
	return false
}

func (n notNode) match(u *user, v *version) bool { return !n.kid.match(u, v) }
func (allNode) match(*user, *version) bool       { return true }

type termKind int

const (
	termExact termKind = iota
	termPrefix
	termExists
)

type termNode struct {
	fields []string // one field, or the default fields of a bare term
	value  string   // lower-cased already for case-insensitive fields
	kind   termKind
}

type rangeNode struct {
	field        string
	lo, hi       *string
	loInc, hiInc bool
	// parsed bounds for date and number fields
	loT, hiT time.Time
	loF, hiF float64
	kind     fieldKind
}

type fieldKind int

const (
	fString fieldKind = iota
	fDate
	fNumber
	fBool
	fMeta
)

// searchableFields are the fields Auth0 lets a query name (besides
// app_metadata.* and user_metadata.*).
var searchableFields = map[string]fieldKind{
	"user_id": fString, "email": fString, "email_verified": fBool, "name": fString,
	"given_name": fString, "family_name": fString, "nickname": fString, "username": fString,
	"phone_number": fString, "created_at": fDate, "updated_at": fDate, "last_login": fDate,
	"logins_count": fNumber, "blocked": fBool, "identities.connection": fString,
	// Also searchable on Auth0 (its query-syntax page) and not in the fields above.
	"phone_verified": fBool, "last_ip": fString, "email.domain": fString,
}

var caseInsensitive = map[string]bool{"email": true, "email.domain": true, "name": true, "given_name": true, "family_name": true, "nickname": true}

// defaultFields are searched by a term without a field.
var defaultFields = []string{"email", "name", "nickname", "given_name", "family_name", "username", "user_id"}

func fieldKindOf(f string) (fieldKind, bool) {
	if k, ok := searchableFields[f]; ok {
		return k, true
	}
	if (strings.HasPrefix(f, "app_metadata.") || strings.HasPrefix(f, "user_metadata.")) && !strings.HasSuffix(f, ".") {
		return fMeta, true
	}
	return 0, false
}

// QueryError is a query the parser refuses; its message names the problem.
type QueryError struct {
	Pos int
	Msg string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("Invalid query string: %s (at character %d)", e.Msg, e.Pos+1)
}

const maxQueryDepth = 50

type parser struct {
	s     string
	pos   int
	depth int
}

// parseQuery parses q; the error is a *QueryError.
func parseQuery(q string) (n node, err error) {
	if len(q) > 8192 {
		return nil, &QueryError{0, "query longer than 8192 characters"}
	}
	p := &parser{s: q}
	n, err = p.parseOr("")
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos < len(p.s) {
		if p.s[p.pos] == ')' {
			return nil, p.errf("unbalanced parenthesis ')'")
		}
		return nil, p.errf("unexpected %q", p.rest(10))
	}
	return n, nil
}

func (p *parser) errf(format string, args ...any) error {
	return &QueryError{p.pos, fmt.Sprintf(format, args...)}
}

func (p *parser) rest(n int) string {
	r := p.s[p.pos:]
	if len(r) > n {
		r = r[:n]
	}
	return r
}

func (p *parser) skipWS() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// keyword reports whether kw (followed by a delimiter) is next.
func (p *parser) keyword(kw string) bool {
	p.skipWS()
	if !strings.HasPrefix(p.s[p.pos:], kw) {
		return false
	}
	if kw == "&&" || kw == "||" {
		return true
	}
	end := p.pos + len(kw)
	return end == len(p.s) || isSpace(p.s[end]) || p.s[end] == '('
}

func (p *parser) atEnd() bool {
	p.skipWS()
	return p.pos >= len(p.s) || p.s[p.pos] == ')'
}

func (p *parser) parseOr(def string) (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxQueryDepth {
		return nil, p.errf("query nested deeper than %d levels", maxQueryDepth)
	}
	first, err := p.parseAnd(def)
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	for !p.atEnd() {
		switch {
		case p.keyword("OR"):
			p.pos += 2
		case p.keyword("||"):
			p.pos += 2
		}
		if p.atEnd() {
			return nil, p.errf("OR without a right-hand side")
		}
		n, err := p.parseAnd(def)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return orNode{kids}, nil
}

func (p *parser) startsNegation() bool {
	if p.keyword("NOT") {
		return true
	}
	p.skipWS()
	return p.pos < len(p.s) && (p.s[p.pos] == '-' || p.s[p.pos] == '!')
}

func (p *parser) parseAnd(def string) (node, error) {
	first, err := p.parseUnary(def)
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	for {
		switch {
		case p.keyword("AND"):
			p.pos += 3
		case p.keyword("&&"):
			p.pos += 2
		case p.startsNegation():
		default:
			if len(kids) == 1 {
				return first, nil
			}
			return andNode{kids}, nil
		}
		if p.atEnd() {
			return nil, p.errf("AND without a right-hand side")
		}
		n, err := p.parseUnary(def)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
}

func (p *parser) parseUnary(def string) (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxQueryDepth {
		return nil, p.errf("query nested deeper than %d levels", maxQueryDepth)
	}
	p.skipWS()
	if p.keyword("NOT") {
		p.pos += 3
		if p.atEnd() {
			return nil, p.errf("NOT without an operand")
		}
		n, err := p.parseUnary(def)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if p.pos < len(p.s) && (p.s[p.pos] == '-' || p.s[p.pos] == '!') {
		p.pos++
		if p.atEnd() {
			return nil, p.errf("negation without an operand")
		}
		n, err := p.parseUnary(def)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if p.pos < len(p.s) && p.s[p.pos] == '+' {
		p.pos++
	}
	return p.parsePrimary(def)
}

func (p *parser) parsePrimary(def string) (node, error) {
	p.skipWS()
	if p.pos >= len(p.s) {
		return nil, p.errf("unexpected end of query")
	}
	c := p.s[p.pos]
	switch c {
	case '(':
		return p.parseGroup(def)
	case ')':
		return nil, p.errf("unexpected ')'")
	case '"':
		phrase, err := p.readPhrase()
		if err != nil {
			return nil, err
		}
		return p.makeTerm(def, phrase, false, true)
	case '[', '{':
		if def == "" {
			return nil, p.errf("a range needs a field (field:[a TO b])")
		}
		return p.parseRange(def)
	}
	start := p.pos
	// A field name runs to ':'; a bare word to a delimiter.
	name, err := p.readWord(true)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.s) && p.s[p.pos] == ':' {
		if def != "" {
			return nil, &QueryError{start, "a field inside field:(...) is not supported"}
		}
		field := name.text
		if name.star || name.text == "" {
			if name.star && name.text == "" && strings.HasPrefix(p.s[p.pos:], ":*") {
				p.pos += 2
				return allNode{}, nil
			}
			return nil, &QueryError{start, "empty or wildcard field name"}
		}
		if _, ok := fieldKindOf(field); !ok {
			return nil, &QueryError{start, fmt.Sprintf("field %q is not searchable", field)}
		}
		p.pos++
		return p.parseValue(field)
	}
	if name.text == "" && !name.star {
		return nil, &QueryError{start, fmt.Sprintf("unexpected %q", p.rest(10))}
	}
	return p.makeTerm(def, name.text, name.star, false)
}

// parseGroup parses "( ... )" from its opening parenthesis; def is the
// field its bare terms search ("" at the top level).
func (p *parser) parseGroup(def string) (node, error) {
	p.pos++
	n, err := p.parseOr(def)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos >= len(p.s) || p.s[p.pos] != ')' {
		return nil, p.errf("missing closing parenthesis")
	}
	p.pos++
	return n, nil
}

// parseValue parses what follows "field:".
func (p *parser) parseValue(field string) (node, error) {
	if p.pos >= len(p.s) || isSpace(p.s[p.pos]) {
		return nil, p.errf("missing value for field %q", field)
	}
	switch p.s[p.pos] {
	case '(':
		return p.parseGroup(field)
	case '[', '{':
		return p.parseRange(field)
	case '"':
		phrase, err := p.readPhrase()
		if err != nil {
			return nil, err
		}
		return p.makeTerm(field, phrase, false, true)
	}
	start := p.pos
	w, err := p.readWord(false)
	if err != nil {
		return nil, err
	}
	if w.text == "" && !w.star {
		return nil, &QueryError{start, fmt.Sprintf("missing value for field %q", field)}
	}
	return p.makeTerm(field, w.text, w.star, false)
}

type word struct {
	text string
	star bool // ends with an unescaped *
}

// readWord reads an unquoted word. A field name (stopAtColon) ends at ':';
// a value may contain ':' (timestamps). Backslash escapes any character.
func (p *parser) readWord(stopAtColon bool) (word, error) {
	var b strings.Builder
	var w word
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if isSpace(c) || c == '(' || c == ')' || c == '"' || (stopAtColon && c == ':') {
			break
		}
		if c == '[' || c == ']' || c == '{' || c == '}' {
			return w, p.errf("unexpected %q inside a word (quote or escape it)", string(c))
		}
		if w.star {
			return w, p.errf("wildcard * is only allowed at the end of a value")
		}
		switch c {
		case '\\':
			if p.pos+1 >= len(p.s) {
				return w, p.errf("backslash at the end of the query")
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
			continue
		case '*':
			w.star = true
			p.pos++
			continue
		case '?':
			return w, p.errf("wildcard ? is not supported")
		}
		b.WriteByte(c)
		p.pos++
	}
	w.text = b.String()
	return w, nil
}

func (p *parser) readPhrase() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", p.errf("backslash at the end of the query")
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
			continue
		case '"':
			p.pos++
			return b.String(), nil
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", &QueryError{start, "unterminated quoted phrase"}
}

func (p *parser) makeTerm(field, value string, star, phrase bool) (node, error) {
	fields := []string{field}
	if field == "" {
		fields = defaultFields
	}
	kind := termExact
	switch {
	case star && value == "":
		kind = termExists
	case star:
		kind = termPrefix
	}
	if k, _ := fieldKindOf(field); k == fMeta && kind != termExact {
		return nil, p.errf("wildcards are not supported on metadata field %q (exact matches only)", field)
	}
	if field != "" && kind == termExact {
		if k, _ := fieldKindOf(field); k == fDate {
			if _, ok := parseDate(value); !ok {
				return nil, p.errf("%q is not a date for field %q", value, field)
			}
		}
	}
	if field == "" || caseInsensitive[field] {
		value = strings.ToLower(value)
	}
	return termNode{fields: fields, value: value, kind: kind}, nil
}

func (p *parser) parseRange(field string) (node, error) {
	kind, _ := fieldKindOf(field)
	if kind == fMeta {
		return nil, p.errf("ranges are not supported on metadata field %q (exact matches only)", field)
	}
	r := rangeNode{field: field, kind: kind, loInc: p.s[p.pos] == '['}
	p.pos++
	lo, err := p.readBound()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if !strings.HasPrefix(p.s[p.pos:], "TO") {
		return nil, p.errf("range needs TO between its bounds")
	}
	p.pos += 2
	if p.pos < len(p.s) && !isSpace(p.s[p.pos]) {
		return nil, p.errf("range needs a space after TO")
	}
	hi, err := p.readBound()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos >= len(p.s) || (p.s[p.pos] != ']' && p.s[p.pos] != '}') {
		return nil, p.errf("range must end with ] or }")
	}
	r.hiInc = p.s[p.pos] == ']'
	p.pos++
	r.lo, r.hi = lo, hi
	ci := caseInsensitive[field]
	for i, b := range []*string{lo, hi} {
		if b == nil {
			continue
		}
		switch kind {
		case fDate:
			t, ok := parseDate(*b)
			if !ok {
				return nil, p.errf("range bound %q is not a date or timestamp (use 2024-01-01 or 2024-01-01T00:00:00.000Z)", *b)
			}
			if i == 0 {
				r.loT = t
			} else {
				r.hiT = t
			}
		case fNumber:
			f, err := strconv.ParseFloat(*b, 64)
			if err != nil {
				return nil, p.errf("range bound %q is not a number for field %q", *b, field)
			}
			if i == 0 {
				r.loF = f
			} else {
				r.hiF = f
			}
		default:
			if ci {
				l := strings.ToLower(*b)
				*b = l
			}
		}
	}
	return r, nil
}

// readBound reads one range bound; "*" is an open end (nil).
func (p *parser) readBound() (*string, error) {
	p.skipWS()
	if p.pos >= len(p.s) {
		return nil, p.errf("unterminated range")
	}
	if p.s[p.pos] == '"' {
		s, err := p.readPhrase()
		if err != nil {
			return nil, err
		}
		return &s, nil
	}
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if isSpace(c) || c == ']' || c == '}' {
			break
		}
		if c == '\\' && p.pos+1 < len(p.s) {
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
			continue
		}
		b.WriteByte(c)
		p.pos++
	}
	s := b.String()
	if s == "" {
		return nil, p.errf("empty range bound")
	}
	if s == "*" {
		return nil, nil
	}
	return &s, nil
}

var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseDate accepts dates and timestamps (with or without ms and zone; no
// zone means UTC).
func parseDate(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDateOnly(s string) bool { return len(s) == 10 && strings.Count(s, "-") == 2 }

// ---- evaluation

func (t termNode) match(u *user, v *version) bool {
	for _, f := range t.fields {
		if t.matchField(u, v, f) {
			return true
		}
	}
	return false
}

func (t termNode) matchField(u *user, v *version, f string) bool {
	kind, _ := fieldKindOf(f)
	if f == "created_at" && t.kind == termExact {
		return matchDate(u.createdAt, t.value)
	}
	ci := caseInsensitive[f] || len(t.fields) > 1
	if f == "email" && v.email != "" {
		switch t.kind {
		case termExists:
			return true
		case termPrefix:
			return len(v.email) >= len(t.value) && strings.EqualFold(v.email[:len(t.value)], t.value)
		}
		return strings.EqualFold(v.email, t.value)
	}
	if t.kind == termExists {
		return eachValue(v.doc, f, func(any) bool { return true })
	}
	return eachValue(v.doc, f, func(x any) bool { return t.matchValue(x, kind, ci) })
}

// matchValue matches one value of the field: dates and numbers exactly by
// value, anything else as text (ci: case-insensitively), whole or prefix.
func (t termNode) matchValue(x any, kind fieldKind, ci bool) bool {
	if kind == fDate && t.kind == termExact {
		s, ok := x.(string)
		if !ok {
			return false
		}
		tm, ok := parseDate(s)
		return ok && matchDate(tm, t.value)
	}
	if kind == fNumber && t.kind == termExact {
		a, ok := toFloat(x)
		if !ok {
			return false
		}
		b, err := strconv.ParseFloat(t.value, 64)
		return err == nil && a == b
	}
	s, ok := x.(string)
	if !ok {
		s = valueString(x)
	}
	if t.kind == termPrefix {
		if len(s) < len(t.value) {
			return false
		}
		s = s[:len(t.value)]
	}
	if ci {
		return strings.EqualFold(s, t.value)
	}
	return s == t.value
}

func matchDate(tm time.Time, value string) bool {
	want, ok := parseDate(value)
	if !ok {
		return false
	}
	if isDateOnly(value) {
		y1, m1, d1 := tm.UTC().Date()
		y2, m2, d2 := want.Date()
		return y1 == y2 && m1 == m2 && d1 == d2
	}
	return tm.Equal(want)
}

func (r rangeNode) match(u *user, v *version) bool {
	switch r.kind {
	case fDate:
		if r.field == "created_at" {
			return r.inTime(u.createdAt)
		}
		return eachValue(v.doc, r.field, func(x any) bool {
			if s, ok := x.(string); ok {
				if tm, ok := parseDate(s); ok && r.inTime(tm) {
					return true
				}
			}
			return false
		})
	case fNumber:
		return eachValue(v.doc, r.field, func(x any) bool {
			f, ok := toFloat(x)
			return ok && r.inFloat(f)
		})
	}
	ci := caseInsensitive[r.field]
	return eachValue(v.doc, r.field, func(x any) bool {
		s := valueString(x)
		if ci {
			s = strings.ToLower(s)
		}
		return r.inString(s)
	})
}

func (r rangeNode) inTime(t time.Time) bool {
	if r.lo != nil {
		if c := t.Compare(r.loT); c < 0 || (c == 0 && !r.loInc) {
			return false
		}
	}
	if r.hi != nil {
		if c := t.Compare(r.hiT); c > 0 || (c == 0 && !r.hiInc) {
			return false
		}
	}
	return true
}

func (r rangeNode) inFloat(f float64) bool {
	if r.lo != nil && (f < r.loF || (f == r.loF && !r.loInc)) {
		return false
	}
	if r.hi != nil && (f > r.hiF || (f == r.hiF && !r.hiInc)) {
		return false
	}
	return true
}

func (r rangeNode) inString(s string) bool {
	if r.lo != nil {
		if c := strings.Compare(s, *r.lo); c < 0 || (c == 0 && !r.loInc) {
			return false
		}
	}
	if r.hi != nil {
		if c := strings.Compare(s, *r.hi); c > 0 || (c == 0 && !r.hiInc) {
			return false
		}
	}
	return true
}

// eachValue calls fn for each value field has in doc (array elements one
// by one) until fn returns true; it reports whether one did.
func eachValue(doc map[string]any, field string, fn func(any) bool) bool {
	if field == "email.domain" {
		email, _ := doc["email"].(string)
		_, domain, ok := strings.Cut(email, "@")
		return ok && fn(domain)
	}
	if !strings.Contains(field, ".") {
		x, ok := doc[field]
		if !ok || x == nil {
			return false
		}
		if arr, isArr := x.([]any); isArr {
			for _, y := range arr {
				if y != nil && fn(y) {
					return true
				}
			}
			return false
		}
		return fn(x)
	}
	for _, x := range fieldValues(doc, field) {
		if fn(x) {
			return true
		}
	}
	return false
}

// fieldValues returns the values a (dotted) field has in doc; arrays
// contribute each element, as in the search index.
func fieldValues(doc map[string]any, field string) []any {
	var out []any
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		if arr, ok := v.([]any); ok {
			for _, x := range arr {
				walk(x, path)
			}
			return
		}
		if len(path) == 0 {
			if v != nil {
				out = append(out, v)
			}
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		// Metadata keys may contain dots; try the longest key first.
		for i := len(path); i >= 1; i-- {
			key := strings.Join(path[:i], ".")
			if x, ok := m[key]; ok {
				walk(x, path[i:])
			}
		}
	}
	walk(doc, strings.Split(field, "."))
	return out
}

func lookupField(doc map[string]any, field string) (any, bool) {
	vals := fieldValues(doc, field)
	if len(vals) == 0 {
		return nil, false
	}
	return vals[0], true
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ---- narrowing by created_at

type createdRange struct {
	lo, hi       *time.Time
	loInc, hiInc bool
}

// createdBounds returns the created_at window every match must fall in,
// when the query's top level (or a top-level AND) pins one; nil otherwise.
func createdBounds(n node) *createdRange {
	switch x := n.(type) {
	case rangeNode:
		if x.field != "created_at" {
			return nil
		}
		r := &createdRange{loInc: x.loInc, hiInc: x.hiInc}
		if x.lo != nil {
			t := x.loT
			r.lo = &t
		}
		if x.hi != nil {
			t := x.hiT
			r.hi = &t
		}
		return r
	case andNode:
		var out *createdRange
		for _, k := range x.kids {
			b := createdBounds(k)
			if b == nil {
				continue
			}
			if out == nil {
				out = b
				continue
			}
			// Intersect: keep the tighter bound on each side.
			if b.lo != nil && (out.lo == nil || b.lo.After(*out.lo) || (b.lo.Equal(*out.lo) && !b.loInc)) {
				out.lo, out.loInc = b.lo, b.loInc
			}
			if b.hi != nil && (out.hi == nil || b.hi.Before(*out.hi) || (b.hi.Equal(*out.hi) && !b.hiInc)) {
				out.hi, out.hiInc = b.hi, b.hiInc
			}
		}
		return out
	}
	return nil
}

// indexRange is the [lo, hi) slice of sorted that can hold matches.
func (r *createdRange) indexRange(sorted []*user) (int, int) {
	lo, hi := 0, len(sorted)
	if r.lo != nil {
		t := *r.lo
		lo = sort.Search(len(sorted), func(i int) bool {
			c := sorted[i].createdAt.Compare(t)
			return c > 0 || (c == 0 && r.loInc)
		})
	}
	if r.hi != nil {
		t := *r.hi
		hi = sort.Search(len(sorted), func(i int) bool {
			c := sorted[i].createdAt.Compare(t)
			return c > 0 || (c == 0 && !r.hiInc)
		})
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}
