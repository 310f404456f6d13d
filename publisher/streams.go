// Package publisher sets up the JetStream streams (README "The event" and "Commands") and
// publishes user.created CloudEvents with Nats-Msg-Id.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// ErrSubjectClash means a stream of the expected name exists with other
// subjects: two prefixes must never share a stream. The process exits 2.
var ErrSubjectClash = errors.New("stream exists with other subjects")

// Names are the stream names and subjects derived from a subject prefix.
type Names struct {
	Prefix   string // e.g. "auth0"
	Users    string // AUTH0_USERS
	Commands string // AUTH0_COMMANDS
	Results  string // AUTH0_RESULTS
	DLQ      string // AUTH0_DLQ
}

// NamesFor derives stream names: prefix upper-cased, "." → "_", plus a suffix
// ("auth0.tenant-a" → "AUTH0_TENANT-A_USERS").
func NamesFor(prefix string) Names {
	base := strings.ToUpper(strings.ReplaceAll(prefix, ".", "_"))
	return Names{Prefix: prefix, Users: base + "_USERS", Commands: base + "_COMMANDS", Results: base + "_RESULTS", DLQ: base + "_DLQ"}
}

// UserCreatedSubject is <prefix>.users.created.
func (n Names) UserCreatedSubject() string { return n.Prefix + ".users.created" }

// StreamOptions are the operator-tunable stream settings.
type StreamOptions struct {
	Replicas  int           // default 1
	MaxAge    time.Duration // users stream retention (EVENTS_MAX_AGE); default limits.EventsMaxAge
	DLQMaxAge time.Duration // dead-letter stream retention (DLQ_MAX_AGE); default limits.DLQMaxAge
}

// UsersStream is the config of <PREFIX>_USERS.
func (n Names) UsersStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.Users, Subjects: []string{n.Prefix + ".users.>"}, Storage: jetstream.FileStorage,
		Duplicates: 10 * time.Minute, MaxAge: limits.OrPositive(o.MaxAge, limits.EventsMaxAge), Replicas: max(o.Replicas, 1),
		Description: "auth0-worker: user events (personal data; retention EVENTS_MAX_AGE)",
	}
}

// CommandsStream is the config of <PREFIX>_COMMANDS (work queue).
func (n Names) CommandsStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.Commands, Subjects: []string{n.Prefix + ".cmd.>"}, Storage: jetstream.FileStorage,
		Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour, Replicas: max(o.Replicas, 1),
		Description: "auth0-worker: durable commands",
	}
}

// ResultsStream is the config of <PREFIX>_RESULTS (limits, 24h).
func (n Names) ResultsStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.Results, Subjects: []string{n.Prefix + ".results.>"}, Storage: jetstream.FileStorage,
		MaxAge: 24 * time.Hour, Duplicates: 2 * time.Minute, Replicas: max(o.Replicas, 1),
		Description: "auth0-worker: durable command outcomes",
	}
}

// DLQStream is the config of <PREFIX>_DLQ (limits).
func (n Names) DLQStream(o StreamOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: n.DLQ, Subjects: []string{n.Prefix + ".dlq.>"}, Storage: jetstream.FileStorage,
		MaxAge: limits.OrPositive(o.DLQMaxAge, limits.DLQMaxAge), Duplicates: 2 * time.Minute,
		Replicas:    max(o.Replicas, 1),
		Description: "auth0-worker: dead letters (may hold personal data; retention DLQ_MAX_AGE)",
	}
}

// EnsureStream creates the stream when missing. When it exists with other
// subjects it returns an error wrapping ErrSubjectClash; other settings an
// operator changed are left alone (a warning is logged).
func EnsureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	if log == nil {
		log = slog.Default()
	}
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica won the race
			s, err = js.Stream(ctx, want.Name)
		} else if err == nil {
			log.Info("stream created", "stream", want.Name, "subjects", want.Subjects)
			return s, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	have := s.CachedInfo().Config
	if !slices.Equal(sortedCopy(have.Subjects), sortedCopy(want.Subjects)) {
		return nil, fmt.Errorf("stream %s has subjects %v, want %v: %w (use another NATS_SUBJECT_PREFIX or fix the stream)",
			want.Name, have.Subjects, want.Subjects, ErrSubjectClash)
	}
	if isDLQ(want) && have.MaxAge == 0 && want.MaxAge > 0 {
		// The one setting changed on an existing stream: dead letters may
		// hold personal data and must not be kept forever.
		cfg := have
		cfg.MaxAge = want.MaxAge
		if s, err = js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("stream %s: set max age %v: %w", want.Name, want.MaxAge, err)
		}
		log.Warn("dead-letter stream had no max age; set it to DLQ_MAX_AGE (older dead letters now expire too)", "stream", want.Name, "max_age", want.MaxAge)
		have = s.CachedInfo().Config
	}
	if have.Retention != want.Retention || have.MaxAge != want.MaxAge || have.Duplicates != want.Duplicates || have.Replicas != want.Replicas || have.Storage != want.Storage {
		log.Warn("stream settings differ from the defaults; leaving them as the operator set them", "stream", want.Name,
			"retention", have.Retention.String(), "max_age", have.MaxAge, "duplicates", have.Duplicates, "replicas", have.Replicas)
	}
	return s, nil
}

// isDLQ reports whether want is a dead-letter stream (<prefix>.dlq.>).
func isDLQ(want jetstream.StreamConfig) bool {
	return len(want.Subjects) == 1 && strings.HasSuffix(want.Subjects[0], ".dlq.>")
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// EnsureAll creates or verifies every stream of the prefix.
func EnsureAll(ctx context.Context, js jetstream.JetStream, n Names, o StreamOptions, log *slog.Logger) error {
	for _, cfg := range []jetstream.StreamConfig{n.UsersStream(o), n.CommandsStream(o), n.ResultsStream(o), n.DLQStream(o)} {
		if err := ensureRetrying(ctx, js, cfg, log); err != nil {
			return err
		}
	}
	return nil
}

// ensureAttemptTimeout bounds one EnsureStream attempt. On a JetStream
// cluster an API request can go unanswered (a meta-leader change while two
// replicas create the same streams); without a bound it would wait out the
// caller's whole deadline.
const ensureAttemptTimeout = 5 * time.Second

// ensureRetrying runs EnsureStream again while an attempt only timed out or
// the cluster is not ready yet, and ctx allows; any other error is final.
func ensureRetrying(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, log *slog.Logger) error {
	var last error // the last answer asked again, reported if ctx ends first
	attempt := func() error {
		actx, cancel := context.WithTimeout(ctx, ensureAttemptTimeout)
		defer cancel()
		_, err := EnsureStream(actx, js, cfg, log)
		switch {
		case err == nil:
			return nil
		case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			logRetry(log, "JetStream did not answer in time; asking again", cfg.Name, err)
			last = err
			return err
		case ctx.Err() == nil && clusterNotReady(err):
			logRetry(log, "JetStream cluster cannot place the stream yet; asking again", cfg.Name, err)
			last = err
			return err
		}
		return backoff.Permanent(err)
	}
	retry := backoff.NewExponentialBackOff(backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(0)) // ctx bounds it
	err := backoff.Retry(attempt, backoff.WithContext(retry, ctx))
	if err != nil && last != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (asked until the deadline)", last)
	}
	return err
}

// The JetStream API errors of a cluster that is still forming (a peer not
// yet online, no meta leader yet): a fresh three-node cluster answers them
// for a moment after it reports ready.
const (
	errCodeClusterNoPeers  jetstream.ErrorCode = 10005 // no suitable peers for placement
	errCodeClusterNotAvail jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	errCodeClusterNoLeader jetstream.ErrorCode = 10009 // JetStream cluster can not handle request
)

// clusterNotReady reports whether err is one of those errors.
func clusterNotReady(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeClusterNoPeers, errCodeClusterNotAvail, errCodeClusterNoLeader:
		return true
	}
	return false
}

func logRetry(log *slog.Logger, msg, stream string, err error) {
	if log != nil {
		log.Warn(msg, "stream", stream, "err", err)
	}
}
