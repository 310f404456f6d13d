package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// FromEnv loads from the process environment and args (the arguments after
// the subcommand).
func FromEnv(args []string, need Need) (*Config, error) {
	return Load(args, os.LookupEnv, need)
}

// Load parses flags from args, reads variables through lookup, validates
// every value and computes the derived ones. It returns ErrHelp for -h/--help,
// a plain error for a malformed command line, and a *Error for the first bad
// value.
func Load(args []string, lookup func(string) (string, bool), need Need) (*Config, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	l := &loader{env: lookup, flags: map[string]string{}, need: need}
	if err := l.parseFlags(args); err != nil {
		return nil, err
	}
	c := &Config{Args: l.args}
	steps := []func(*Config) error{l.auth0, l.nats, l.events, l.redis, l.poll, l.webhook, l.command, l.misc}
	for _, step := range steps {
		if err := step(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type loader struct {
	env   func(string) (string, bool)
	flags map[string]string // variable name → value, for flags given
	args  []string
	need  Need
}

func (l *loader) parseFlags(args []string) error {
	fs := flag.NewFlagSet("auth0-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	names := map[string]string{} // flag name without dashes → variable
	for name := range varByName {
		f := strings.TrimPrefix(FlagName(name), "--")
		names[f] = name
		fs.String(f, "", varByName[name].Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("command line: %w (run with --help for the list of flags)", err)
	}
	fs.Visit(func(f *flag.Flag) { l.flags[names[f.Name]] = f.Value.String() })
	l.args = fs.Args()
	return nil
}

// value is one looked-up setting.
type value struct {
	name    string // variable the value belongs to
	s       string // trimmed? no: as given (files: trimmed content)
	present bool   // set (possibly empty)
	flag    string // flag it came from, if any
}

func (v value) empty() bool { return v.s == "" }

// get returns a variable from its flag, else the environment.
func (l *loader) get(name string) value {
	if s, ok := l.flags[name]; ok {
		return value{name: name, s: s, present: true, flag: FlagName(name)}
	}
	s, ok := l.env(name)
	return value{name: name, s: s, present: ok}
}

// secret returns X or the trimmed content of X_FILE. A flag for either form
// replaces both environment forms.
func (l *loader) secret(name string) (value, error) {
	fileName := name + "_FILE"
	_, f1 := l.flags[name]
	_, f2 := l.flags[fileName]
	var direct, file value
	if f1 || f2 {
		if f1 {
			direct = l.get(name)
		}
		if f2 {
			file = l.get(fileName)
		}
	} else {
		direct, file = l.get(name), l.get(fileName)
	}
	if !direct.empty() && !file.empty() {
		return value{}, &Error{Var: name, Flag: direct.flag, Problem: fmt.Sprintf("both %s and %s are set; set only one", name, fileName),
			Example: varByName[name].Example}
	}
	if file.empty() {
		direct.name = name
		return direct, nil
	}
	data, err := os.ReadFile(file.s)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already quoted once
		}
		return value{}, &Error{Var: fileName, Flag: file.flag, Problem: fmt.Sprintf("%q: cannot read: %v", file.s, err), Example: varByName[fileName].Example}
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return value{}, &Error{Var: fileName, Flag: file.flag, Problem: fmt.Sprintf("file %q is empty", file.s), Example: varByName[fileName].Example}
	}
	return value{name: fileName, s: s, present: true, flag: file.flag}, nil
}

// bad builds the *Error for v; the value is quoted unless the variable is secret.
func bad(v value, problem string) *Error {
	spec := varByName[v.name]
	base, isFile := strings.CutSuffix(v.name, "_FILE")
	switch {
	case isFile && varByName[base].Secret: // a secret read from a file: never its content
		problem = "the content of the file " + problem
	case spec.Secret:
		problem = "is set but " + problem
	default:
		problem = fmt.Sprintf("%q: %s", v.s, problem)
	}
	ex := spec.Example
	if ex == "" {
		ex = varByName[strings.TrimSuffix(v.name, "_FILE")].Example
	}
	return &Error{Var: v.name, Flag: v.flag, Problem: problem, Example: ex}
}

// badNoEcho is bad for values that may carry credentials (URLs): the value is
// shown with its credentials removed.
func badNoEcho(v value, shown, problem string) *Error {
	return &Error{Var: v.name, Flag: v.flag, Problem: fmt.Sprintf("%q: %s", shown, problem), Example: varByName[v.name].Example}
}

func missing(v value) *Error {
	p := "is not set"
	if v.present {
		p = "is empty"
	}
	return &Error{Var: v.name, Flag: v.flag, Problem: p + " (required)", Example: varByName[v.name].Example}
}

func (l *loader) str(name string) (string, value) {
	v := l.get(name)
	if v.empty() {
		return varByName[name].Default, v
	}
	return v.s, v
}

func (l *loader) duration(name string, min time.Duration, minText string) (time.Duration, error) {
	s, v := l.str(name)
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad(v, "not a duration (use units: 500ms, 10s, 2m, 168h)")
	}
	if d < min {
		return 0, bad(v, "must be "+minText)
	}
	return d, nil
}

func (l *loader) integer(name string, lo, hi int) (int, error) {
	s, v := l.str(name)
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, bad(v, "not an integer")
	}
	if n < lo || n > hi {
		if hi == math.MaxInt {
			return 0, bad(v, fmt.Sprintf("must be at least %d", lo))
		}
		return 0, bad(v, fmt.Sprintf("must be between %d and %d", lo, hi))
	}
	return n, nil
}

func hasSpace(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

func (l *loader) auth0(c *Config) error {
	a := &c.Auth0
	dom := l.get("AUTH0_DOMAIN")
	switch {
	case dom.empty() && need(l, NeedAuth0):
		return missing(dom)
	case !dom.empty():
		base, tenant, err := parseDomain(dom.s)
		if err != nil {
			return badNoEcho(dom, withoutUserinfo(dom.s), err.Error())
		}
		a.Domain, a.BaseURL, a.TenantKey = dom.s, base, tenant
	}
	if err := l.auth0Credentials(a); err != nil {
		return err
	}
	if err := l.auth0Audience(a); err != nil {
		return err
	}
	rps, v := l.str("AUTH0_MAX_RPS")
	f, err := strconv.ParseFloat(strings.TrimSpace(rps), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return bad(v, "not a number")
	}
	if f < 0 {
		return bad(v, "must be 0 (off) or more")
	}
	a.MaxRPS = f

	allow := l.get("AUTH0_API_CALL_ALLOW")
	rules, err := ParseAPIRules(allow.s)
	if err != nil {
		return bad(allow, err.Error())
	}
	a.APICallAllow = rules
	c.Events.Source = ""
	if a.BaseURL != "" {
		c.Events.Source = a.BaseURL + "/"
	}
	return nil
}

// auth0Credentials reads AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET (or its _FILE).
func (l *loader) auth0Credentials(a *Auth0) error {
	id := l.get("AUTH0_CLIENT_ID")
	switch {
	case id.empty() && need(l, NeedAuth0):
		return missing(id)
	case hasSpace(id.s):
		return bad(id, "contains whitespace")
	}
	a.ClientID = id.s
	sec, err := l.secret("AUTH0_CLIENT_SECRET")
	if err != nil {
		return err
	}
	switch {
	case sec.empty() && need(l, NeedAuth0):
		v := l.get("AUTH0_CLIENT_SECRET")
		return &Error{Var: "AUTH0_CLIENT_SECRET", Flag: v.flag, Problem: map[bool]string{true: "is empty", false: "is not set"}[v.present] + " (required; or set AUTH0_CLIENT_SECRET_FILE)",
			Example: varByName["AUTH0_CLIENT_SECRET"].Example}
	case hasSpace(sec.s):
		return bad(sec, "contains whitespace or control characters")
	}
	a.ClientSecret = Secret(sec.s)
	return nil
}

// auth0Audience reads AUTH0_AUDIENCE; by default the tenant's Management API.
func (l *loader) auth0Audience(a *Auth0) error {
	aud := l.get("AUTH0_AUDIENCE")
	if aud.empty() {
		if a.BaseURL != "" {
			a.Audience = a.BaseURL + "/api/v2/"
		}
	} else {
		u, err := url.Parse(aud.s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || hasSpace(aud.s) {
			return bad(aud, "not an absolute http(s) URL")
		}
		a.Audience = aud.s
	}
	return nil
}

// need is true when the requirement applies.
func need(l *loader, n Need) bool { return l.need&n != 0 }

// parseDomain turns AUTH0_DOMAIN into the base URL and the tenant key.
func parseDomain(s string) (base, tenant string, err error) {
	if hasSpace(s) {
		return "", "", errors.New("contains whitespace")
	}
	raw := s
	if !strings.Contains(s, "://") {
		raw = "https://" + s
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", errors.New("not a domain or an http(s) URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", "", fmt.Errorf("scheme %s:// is not allowed (https:// or a bare domain)", u.Scheme)
	case u.User != nil:
		return "", "", errors.New("must not contain user info")
	case u.Host == "" || u.Hostname() == "":
		return "", "", errors.New("has no host")
	case u.Path != "" && u.Path != "/":
		return "", "", errors.New("must not have a path (give only the domain)")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", "", errors.New("must not have a query or fragment")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "", errors.New("has an invalid port")
		}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", "", errors.New("http:// is only allowed for loopback hosts")
	}
	host := strings.ToLower(u.Host)
	return u.Scheme + "://" + host, host, nil
}

// withoutUserinfo removes "user:password@" from a URL-like value: it is
// never echoed, even in the error that refuses it.
func withoutUserinfo(s string) string {
	pre, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		pre, rest = s[:i+3], s[i+3:]
	}
	auth := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		auth = rest[:j]
	}
	if k := strings.LastIndex(auth, "@"); k >= 0 {
		return pre + "[userinfo removed]@" + rest[k+1:]
	}
	return s
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) nats(c *Config) error {
	n := &c.NATS
	s, v := l.str("NATS_URL")
	servers, err := natsServers(s, v)
	if err != nil {
		return err
	}
	n.URL, n.Servers = strings.Join(servers, ","), servers
	if err := l.natsAuth(n); err != nil {
		return err
	}
	if err := l.natsTLS(n); err != nil {
		return err
	}

	prefix, pv := l.str("NATS_SUBJECT_PREFIX")
	if err := validSubjectPrefix(prefix); err != nil {
		return bad(pv, err.Error())
	}
	n.SubjectPrefix = prefix
	if n.StreamReplicas, err = l.integer("NATS_STREAM_REPLICAS", 1, 5); err != nil {
		return err
	}
	return nil
}

// natsServers checks NATS_URL, a comma-separated list of server URLs (a
// bare host:port means nats://).
func natsServers(s string, v value) ([]string, error) {
	var servers []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		u, err := url.Parse(p)
		if err != nil || hasSpace(p) {
			return nil, badNoEcho(v, "[unparsable]", "not a NATS URL list")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, badNoEcho(v, redactURL(p), "scheme must be nats://, tls://, ws:// or wss://")
		}
		if u.Hostname() == "" {
			return nil, badNoEcho(v, redactURL(p), "has no host")
		}
		servers = append(servers, p)
	}
	if len(servers) == 0 {
		return nil, badNoEcho(v, s, "no server URL")
	}
	return servers, nil
}

// natsAuth reads the NATS credentials: at most one method of NATS_CREDS,
// NATS_NKEY_SEED_FILE, NATS_USER+NATS_PASSWORD and NATS_TOKEN.
func (l *loader) natsAuth(n *NATS) error {
	var methods []string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"NATS_CREDS", &n.Creds}, {"NATS_NKEY_SEED_FILE", &n.NKeySeedFile}} {
		v := l.get(f.name)
		if v.empty() {
			continue
		}
		if err := readable(v); err != nil {
			return err
		}
		*f.dst = v.s
		methods = append(methods, f.name)
	}
	user := l.get("NATS_USER")
	pass, err := l.secret("NATS_PASSWORD")
	if err != nil {
		return err
	}
	switch {
	case !user.empty() && pass.empty():
		return halfPair("NATS_PASSWORD", "NATS_USER")
	case user.empty() && !pass.empty():
		return halfPair("NATS_USER", "NATS_PASSWORD")
	case !user.empty():
		if hasSpace(user.s) {
			return bad(user, "contains whitespace")
		}
		n.User, n.Password = user.s, Secret(pass.s)
		methods = append(methods, "NATS_USER")
	}
	tok, err := l.secret("NATS_TOKEN")
	if err != nil {
		return err
	}
	if !tok.empty() {
		n.Token = Secret(tok.s)
		methods = append(methods, "NATS_TOKEN")
	}
	if len(methods) > 1 {
		return &Error{Var: methods[1], Problem: fmt.Sprintf("conflicts with %s: set only one NATS auth method (NATS_CREDS, NATS_NKEY_SEED_FILE, NATS_USER+NATS_PASSWORD or NATS_TOKEN)", methods[0]),
			Example: varByName[methods[1]].Example}
	}
	return nil
}

// natsTLS reads the TLS files; a client certificate needs its key.
func (l *loader) natsTLS(n *NATS) error {
	for _, name := range []string{"NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"} {
		if v := l.get(name); !v.empty() {
			if err := readable(v); err != nil {
				return err
			}
		}
	}
	n.TLSCA, n.TLSCert, n.TLSKey = l.get("NATS_TLS_CA").s, l.get("NATS_TLS_CERT").s, l.get("NATS_TLS_KEY").s
	if (n.TLSCert == "") != (n.TLSKey == "") {
		if n.TLSCert == "" {
			return halfPair("NATS_TLS_CERT", "NATS_TLS_KEY")
		}
		return halfPair("NATS_TLS_KEY", "NATS_TLS_CERT")
	}
	return nil
}

// halfPair is the error for a variable that must be set with another one.
func halfPair(unset, set string) *Error {
	return &Error{Var: unset, Problem: "is not set but " + set + " is (set both or neither)", Example: varByName[unset].Example}
}

// readable checks that a path variable names a readable file.
func readable(v value) error {
	f, err := os.Open(v.s)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return bad(v, fmt.Sprintf("cannot read: %v", err))
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return bad(v, "is a directory, not a file")
	}
	return nil
}

func validSubjectPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		switch {
		case tok == "":
			return errors.New("empty subject token (no leading, trailing or double dots)")
		case hasSpace(tok):
			return errors.New("subjects cannot contain whitespace")
		case strings.ContainsAny(tok, "*>"):
			return errors.New("wildcards * and > are not allowed")
		}
	}
	return nil
}

func (l *loader) events(c *Config) error {
	var err error
	if c.Events.MaxAge, err = l.duration("EVENTS_MAX_AGE", time.Second, "at least 1s"); err != nil {
		return err
	}
	v := l.get("EVENT_FIELDS")
	for f := range strings.SplitSeq(v.s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case hasSpace(f):
			return bad(v, fmt.Sprintf("field %q contains whitespace", f))
		case strings.ContainsAny(f, `."`):
			return bad(v, fmt.Sprintf("field %q: only top-level field names are allowed", f))
		}
		c.Events.Fields = append(c.Events.Fields, f)
	}
	return l.eventTypes(c)
}

// EventTypes are the values EVENT_TYPES accepts, in publishing order.
var EventTypes = []string{"user.created", "user.updated", "user.deleted"}

func (l *loader) eventTypes(c *Config) error {
	s, v := l.str("EVENT_TYPES")
	want := map[string]bool{}
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(EventTypes, t) {
			return bad(v, fmt.Sprintf("unknown event type %q: use user.created, user.updated or user.deleted", t))
		}
		want[t] = true
	}
	if len(want) == 0 {
		return bad(v, "names no event type")
	}
	for _, t := range EventTypes {
		if want[t] {
			c.Events.Types = append(c.Events.Types, t)
		}
	}
	return nil
}

func (l *loader) webhook(c *Config) error {
	w := &c.Webhook
	addr := l.get("WEBHOOK_ADDR")
	w.Addr = strings.TrimSpace(addr.s)
	tok, err := l.secret("WEBHOOK_BEARER_TOKEN")
	if err != nil {
		return err
	}
	user := l.get("WEBHOOK_BASIC_USER")
	pw, err := l.secret("WEBHOOK_BASIC_PASSWORD")
	if err != nil {
		return err
	}
	w.BearerToken, w.BasicUser, w.BasicPassword = Secret(tok.s), user.s, Secret(pw.s)
	cert, key := l.get("WEBHOOK_TLS_CERT"), l.get("WEBHOOK_TLS_KEY")
	w.TLSCert, w.TLSKey = cert.s, key.s
	if w.Addr == "" {
		return l.webhookOff(c)
	}
	if _, port, err := net.SplitHostPort(w.Addr); err != nil || port == "" {
		return bad(addr, "must be host:port or :port")
	}
	if err := webhookAuth(w, tok, user, pw); err != nil {
		return err
	}
	if (w.TLSCert == "") != (w.TLSKey == "") {
		if w.TLSCert == "" {
			return missing(cert)
		}
		return missing(key)
	}
	return nil
}

// webhookOff: with no receiver, updates and deletions need the Events API.
func (l *loader) webhookOff(c *Config) error {
	if (c.Events.Wants("user.updated") || c.Events.Wants("user.deleted")) && c.Poll.Source == SourceSearch {
		return bad(l.get("EVENT_TYPES"), "user.updated and user.deleted need the Events API or the receiver, and POLL_SOURCE is search with no WEBHOOK_ADDR (set POLL_SOURCE=events or auto, or WEBHOOK_ADDR)")
	}
	return nil
}

// webhookAuth: the receiver takes exactly one of a bearer token or complete
// basic credentials.
func webhookAuth(w *Webhook, tok, user, pw value) error {
	switch {
	case w.BearerToken != "" && (w.BasicUser != "" || w.BasicPassword != ""):
		return bad(tok, "both a bearer token and basic credentials are set; set only one")
	case w.BearerToken == "" && w.BasicUser == "" && w.BasicPassword == "":
		return &Error{Var: "WEBHOOK_BEARER_TOKEN", Problem: "is not set (WEBHOOK_ADDR needs WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_USER + WEBHOOK_BASIC_PASSWORD)", Example: varByName["WEBHOOK_BEARER_TOKEN"].Example}
	case w.BearerToken == "" && w.BasicUser == "":
		return missing(user)
	case w.BearerToken == "" && w.BasicPassword == "":
		return missing(pw)
	case strings.ContainsRune(w.BasicUser, ':'):
		return bad(user, "must not contain ':'")
	}
	return nil
}

func splitAddrs(v value) ([]string, error) {
	var out []string
	for a := range strings.SplitSeq(v.s, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		h, p, err := net.SplitHostPort(a)
		if err != nil || h == "" || hasSpace(a) {
			return nil, bad(v, fmt.Sprintf("%q is not host:port", a))
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, bad(v, fmt.Sprintf("%q has an invalid port", a))
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, bad(v, "no host:port")
	}
	return out, nil
}

func (l *loader) poll(c *Config) error {
	p := &c.Poll
	src, sv := l.str("POLL_SOURCE")
	if !slices.Contains(PollSources(), PollSource(src)) {
		return bad(sv, "must be events, search or auto")
	}
	p.Source = PollSource(src)
	q := l.get("POLL_QUERY")
	if strings.ContainsAny(q.s, "\r\n\x00") {
		return bad(q, "must be one line")
	}
	if strings.TrimSpace(q.s) != "" && p.Source == SourceEvents {
		return bad(q, "POLL_QUERY only works with the search source, and POLL_SOURCE is events (use POLL_SOURCE=search or auto, or unset POLL_QUERY)")
	}
	p.Query = strings.TrimSpace(q.s)
	var err error
	if p.Limit, err = l.integer("POLL_LIMIT", limits.MinPollLimit, math.MaxInt); err != nil {
		return err
	}
	if p.Interval, err = l.duration("POLL_INTERVAL", limits.MinPollInterval, "more than 0"); err != nil {
		return err
	}
	if p.Overlap, err = l.duration("POLL_OVERLAP", 0, "0 or more"); err != nil {
		return err
	}
	st, stv := l.str("POLL_START")
	if p.Start, err = pollstart.Parse(st); err != nil {
		return bad(stv, "must be now, all or an RFC 3339 time")
	}
	if p.ReconcileInterval, err = l.duration("RECONCILE_INTERVAL", 0, "0 (off) or more"); err != nil {
		return err
	}
	if p.DedupeTTL, err = l.duration("DEDUPE_TTL", limits.MinDedupeTTL, "at least "+limits.Text(limits.MinDedupeTTL)); err != nil {
		return err
	}
	if p.LeaseTTL, err = l.duration("LEASE_TTL", limits.MinLeaseTTL, "at least "+limits.Text(limits.MinLeaseTTL)); err != nil {
		return err
	}
	return nil
}

func (l *loader) command(c *Config) error {
	var err error
	if c.Command.Concurrency, err = l.integer("COMMAND_CONCURRENCY", 1, math.MaxInt); err != nil {
		return err
	}
	if c.Command.Timeout, err = l.duration("COMMAND_TIMEOUT", limits.MinCommandTimeout, "more than 0"); err != nil {
		return err
	}
	if c.Command.DLQMaxAge, err = l.duration("DLQ_MAX_AGE", time.Second, "at least 1s"); err != nil {
		return err
	}
	if c.Command.MaxDeliver, err = l.integer("COMMAND_MAX_DELIVER", 1, math.MaxInt); err != nil {
		return err
	}
	return nil
}

func (l *loader) misc(c *Config) error {
	addr, av := l.str("HTTP_ADDR")
	_, port, err := net.SplitHostPort(addr)
	if err != nil || hasSpace(addr) {
		return bad(av, "not host:port (\":8080\" listens on every interface)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad(av, "has an invalid port")
	}
	c.HTTPAddr = addr

	lvl, lv := l.str("LOG_LEVEL")
	switch strings.ToLower(lvl) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return bad(lv, "must be debug, info, warn or error")
	}
	f, fv := l.str("LOG_FORMAT")
	switch f {
	case "auto", "text", "json":
		c.LogFormat = f
	default:
		return bad(fv, "must be auto, text or json")
	}
	nc, _ := l.env("NO_COLOR")
	c.NoColor = nc != ""
	return nil
}
