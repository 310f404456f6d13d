// Package check implements `auth0-worker check` (README "Quick start"): it tries
// every dependency the worker needs, the way the worker would, and prints one
// line per item with PASS, WARN, FAIL or SKIP and the reason. It changes
// nothing: streams are looked up, never created; the only write is a
// short-lived probe key in Redis that proves the Lua scripts may run.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Auth0 is what check needs of the Management API client (*auth0.Client).
type Auth0 interface {
	EnsureToken(ctx context.Context) error
	SearchUsers(ctx context.Context, p auth0.SearchParams) (*auth0.UsersPage, error)
	SubscribeEvents(ctx context.Context, p auth0.EventParams) (*auth0.EventStream, error)
}

// Deps are the configured dependencies to check. Build them with FromConfig
// or by hand (tests).
type Deps struct {
	// ConfigErr is the configuration's validation error, if any: the config
	// line fails and nothing else is tried.
	ConfigErr error
	// ConfigSummary is shown on the config line when it passes (no secrets).
	ConfigSummary string
	// Auth0 is the client to probe (required unless ConfigErr).
	Auth0 Auth0
	// PollSource is the poll source that runs (POLL_SOURCE; auto with
	// POLL_QUERY is search). Zero: none, the Events API is not tried.
	PollSource Source
	// EventTypes is EVENT_TYPES; the Events API check asks for each.
	// Default {"user.created"}.
	EventTypes []string
	// Receiver is the Event Streams receiver's configuration (WEBHOOK_*).
	Receiver Receiver
	// NATS and Redis are the connection options.
	NATS  connect.NATSOptions
	Redis connect.RedisOptions
	// RedisKeys place the probe key next to the lease (same cluster slot).
	RedisKeys rediskeys.Keys
	// Streams and StreamOptions name the JetStream streams to verify.
	Streams       publisher.Names
	StreamOptions publisher.StreamOptions
	// Secrets are removed from every printed line should a library ever
	// quote one (defence in depth; nothing here prints them on purpose).
	Secrets []string
	// Timeout bounds each item. Default 10s.
	Timeout time.Duration
	// Logger receives the NATS connection's event lines. Default: discarded,
	// so the check's output is only its result lines.
	Logger *slog.Logger
}

// Source is what the check needs of a poll source: the poller registry's
// facts (poller.Selectable), which cmd hands to FromConfig.
type Source struct {
	Name string
	// EventsAPI: the source reads the Events API.
	EventsAPI bool
	// Fallback is the source it runs while the Events API refuses this
	// client ("" = none): a refusal then only warns.
	Fallback string
}

// Status of one item.
type Status string

// The statuses. WARN does not fail the check; SKIP appears only after an
// earlier failure that makes the item impossible to try.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one printed line.
type Result struct {
	Item   string
	Status Status
	Detail string
}

// Item names, in printing order.
const (
	ItemConfig    = "config"
	ItemToken     = "auth0 token"
	ItemListUser  = "auth0 list users"
	ItemEvents    = "auth0 events API"
	ItemNATS      = "nats"
	ItemJetStream = "jetstream"
	ItemStream    = "stream " // + stream name
	ItemRedis     = "redis"
)

// Run checks every item, writes one line each to w, and reports whether all
// passed (WARN counts as passed). The caller exits 0 only when ok.
func Run(ctx context.Context, d Deps, w io.Writer) (ok bool) {
	rs := Results(ctx, d)
	ok = true
	for _, r := range rs {
		if r.Status == Fail || r.Status == Skip {
			ok = false
		}
		fmt.Fprintf(w, "%-4s  %-24s %s\n", r.Status, r.Item, scrub(oneLine(r.Detail), d.Secrets))
	}
	if ok {
		fmt.Fprintln(w, "all checks passed")
	} else {
		fmt.Fprintln(w, "some checks failed")
	}
	return ok
}

// Results runs the checks and returns the lines unprinted.
func Results(ctx context.Context, d Deps) []Result {
	if d.ConfigErr != nil {
		return []Result{{ItemConfig, Fail, d.ConfigErr.Error()}}
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Streams.Prefix == "" {
		d.Streams = publisher.NamesFor("auth0")
	}
	if len(d.EventTypes) == 0 {
		d.EventTypes = []string{"user.created"}
	}
	summary := d.ConfigSummary
	if summary == "" {
		summary = "loaded"
	}
	out := []Result{{ItemConfig, Pass, summary}}
	out = append(out, d.auth0Checks(ctx)...)
	out = append(out, d.natsChecks(ctx)...)
	out = append(out, d.redisCheck(ctx))
	return append(out, d.receiverCheck())
}

func (d Deps) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.Timeout)
}

func (d Deps) auth0Checks(ctx context.Context) []Result {
	if d.Auth0 == nil {
		return []Result{{ItemToken, Fail, "no Auth0 client configured"}}
	}
	c, cancel := d.timeout(ctx)
	err := d.Auth0.EnsureToken(c)
	cancel()
	if err != nil {
		return []Result{
			{ItemToken, Fail, explainAuth0(err, "client credentials refused: check AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET and AUTH0_AUDIENCE")},
			{ItemListUser, Skip, "no token"},
			{ItemEvents, Skip, "no token"},
		}
	}
	out := []Result{{ItemToken, Pass, "access token obtained"}}

	c, cancel = d.timeout(ctx)
	page, err := d.Auth0.SearchUsers(c, auth0.SearchParams{PerPage: 1})
	cancel()
	switch {
	case err != nil:
		out = append(out, Result{ItemListUser, Fail, explainAuth0(err, "the application needs the read:users scope")})
	default:
		n := len(page.Users)
		msg := fmt.Sprintf("read:users ok (%d users in the tenant)", page.Total)
		if n == 0 {
			msg = "read:users ok (the tenant has no users yet)"
		}
		out = append(out, Result{ItemListUser, Pass, msg})
	}
	return append(out, d.eventsCheck(ctx))
}

func (d Deps) eventsCheck(ctx context.Context) Result {
	src := d.PollSource
	if !src.EventsAPI {
		return Result{ItemEvents, Pass, "not used (POLL_SOURCE=" + src.Name + ")"}
	}
	c, cancel := d.timeout(ctx)
	defer cancel()
	s, err := d.Auth0.SubscribeEvents(c, auth0.EventParams{Types: d.EventTypes, FromTimestamp: time.Now()})
	if err == nil {
		_ = s.Close()
		return Result{ItemEvents, Pass, "stream opened for " + strings.Join(d.EventTypes, ", ") + " (read:events ok)"}
	}
	if errors.Is(err, auth0.ErrConnectionLimit) {
		// Access exists; the plan's concurrent connections are in use
		// (another replica streaming, most likely).
		return Result{ItemEvents, Pass, "access ok; concurrent-connection limit reached right now (another replica streaming?)"}
	}
	refused := errors.Is(err, auth0.ErrInsufficientScope) || isStatus(err, 404) || isStatus(err, 403)
	detail := explainAuth0(err, "")
	if refused {
		detail = explainAuth0(err, "the application needs the read:events scope and a plan with the Events API")
	}
	if src.Fallback != "" && refused {
		if wantsLifeCycle(d.EventTypes) && d.Receiver.Addr == "" {
			return Result{ItemEvents, Fail, detail + "; POLL_SOURCE=" + src.Name + " would fall back to " + src.Fallback + ", which carries user.created only, and no receiver is configured for " + strings.Join(d.EventTypes, ", ")}
		}
		return Result{ItemEvents, Warn, detail + "; POLL_SOURCE=" + src.Name + " will use " + src.Fallback}
	}
	return Result{ItemEvents, Fail, detail}
}

func isStatus(err error, status int) bool {
	var ae *auth0.APIError
	return errors.As(err, &ae) && ae.Status == status
}

// explainAuth0 appends a hint to Auth0's error where one helps.
func explainAuth0(err error, hint string) string {
	msg := err.Error()
	var te *auth0.TokenError
	var ae *auth0.APIError
	switch {
	case errors.As(err, &te) && te.Status >= 400 && te.Status < 500 && te.Status != 429 && hint != "":
		return msg + " (" + hint + ")"
	case errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403 || ae.Status == 404) && hint != "":
		return msg + " (" + hint + ")"
	case errors.Is(err, context.DeadlineExceeded):
		return msg + " (no answer in time)"
	}
	return msg
}

func (d Deps) natsChecks(ctx context.Context) []Result {
	names := []string{d.Streams.Users, d.Streams.Commands, d.Streams.Results, d.Streams.DLQ}
	skipAll := func(why string) []Result {
		out := []Result{{ItemJetStream, Skip, why}}
		for _, n := range names {
			out = append(out, Result{ItemStream + n, Skip, why})
		}
		return out
	}
	opts := d.NATS
	if opts.ConnectTimeout <= 0 || opts.ConnectTimeout > d.Timeout {
		opts.ConnectTimeout = min(d.Timeout, 5*time.Second)
	}
	opts.RetryOnFailedConnect = false
	nc, err := connect.NATS(opts, "auth0-worker-check", d.Logger)
	if err != nil {
		return append([]Result{{ItemNATS, Fail, err.Error()}}, skipAll("no NATS connection")...)
	}
	defer nc.Close()
	out := []Result{{ItemNATS, Pass, fmt.Sprintf("connected to %s (server %s, version %s)", nc.ConnectedUrlRedacted(), nc.ConnectedServerName(), nc.ConnectedServerVersion())}}

	js, err := jetstream.New(nc)
	if err != nil {
		return append(out, skipAll(err.Error())...)
	}
	c, cancel := d.timeout(ctx)
	defer cancel()
	ai, err := js.AccountInfo(c)
	if err != nil {
		hint := ""
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			hint = " (start nats-server with -js, or enable JetStream for this account)"
		}
		return append(out, append([]Result{{ItemJetStream, Fail, "account info: " + err.Error() + hint}}, skipAll("JetStream unavailable")[1:]...)...)
	}
	out = append(out, Result{ItemJetStream, Pass, fmt.Sprintf("enabled (%d streams in the account)", ai.Streams)})

	so := d.StreamOptions
	for _, want := range []jetstream.StreamConfig{d.Streams.UsersStream(so), d.Streams.CommandsStream(so), d.Streams.ResultsStream(so), d.Streams.DLQStream(so)} {
		out = append(out, streamCheck(c, js, want))
	}
	return out
}

// streamCheck is publisher.EnsureStream without the create: a missing stream
// passes when nothing else captures its subjects; an existing one must have
// exactly the expected subjects.
func streamCheck(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) Result {
	item := ItemStream + want.Name
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		for _, subj := range want.Subjects {
			other, err := js.StreamNameBySubject(ctx, subj)
			if err == nil && other != "" {
				return Result{item, Fail, fmt.Sprintf("missing, and cannot be created: its subjects %s are already captured by stream %s", subj, other)}
			}
		}
		return Result{item, Pass, fmt.Sprintf("missing; will be created with subjects %v", want.Subjects)}
	}
	if err != nil {
		return Result{item, Fail, err.Error()}
	}
	have := s.CachedInfo().Config
	if !sameSet(have.Subjects, want.Subjects) {
		return Result{item, Fail, fmt.Sprintf("exists with subjects %v, want %v: %v (use another NATS_SUBJECT_PREFIX or fix the stream)", have.Subjects, want.Subjects, publisher.ErrSubjectClash)}
	}
	msg := fmt.Sprintf("exists with subjects %v, %d messages", have.Subjects, s.CachedInfo().State.Msgs)
	if have.Replicas != want.Replicas {
		msg += fmt.Sprintf("; replicas %d (NATS_STREAM_REPLICAS=%d; left as the operator set it)", have.Replicas, want.Replicas)
	}
	return Result{item, Pass, msg}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// probeScript is what the lease and cursor scripts need: EVAL, SET PX, DEL
// on a key in the lease's slot.
const probeScript = `redis.call('SET', KEYS[1], ARGV[1], 'PX', 10000)
local v = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
return v`

func (d Deps) redisCheck(ctx context.Context) Result {
	opts := d.Redis
	if opts.DialTimeout <= 0 || opts.DialTimeout > d.Timeout {
		opts.DialTimeout = min(d.Timeout, 5*time.Second)
	}
	rdb, err := connect.Redis(opts)
	if err != nil {
		return Result{ItemRedis, Fail, err.Error()}
	}
	defer rdb.Close()
	c, cancel := d.timeout(ctx)
	defer cancel()
	if err := connect.PingRedis(c, rdb, opts); err != nil {
		return Result{ItemRedis, Fail, err.Error()}
	}
	key := d.RedisKeys.Lease() + ":check"
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	v, err := rdb.Eval(c, probeScript, []string{key}, token).Text()
	if err != nil {
		return Result{ItemRedis, Fail, fmt.Sprintf("%s: write probe (EVAL SET/GET/DEL on %s): %v (the Redis user needs +@scripting +@write +@read on %s:*)", opts.RedactedAddr(), key, err, d.RedisKeys.Prefix)}
	}
	if v != token {
		return Result{ItemRedis, Fail, fmt.Sprintf("%s: write probe read back %q, want %q", opts.RedactedAddr(), v, token)}
	}
	return Result{ItemRedis, Pass, fmt.Sprintf("%s (%s): ping, EVAL and writes ok", opts.RedactedAddr(), opts.RedisTopology())}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func scrub(s string, secrets []string) string {
	for _, x := range secrets {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, "[redacted]")
		}
	}
	return s
}
