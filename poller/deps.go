package poller

import (
	"context"
	"fmt"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// UserSearcher reads one page of GET /api/v2/users. *auth0.Client satisfies
// it. The poller pages by itself (never past auth0.SearchCap) rather than
// using an iterator, because it must restart the created_at window at the cap.
type UserSearcher interface {
	SearchUsers(ctx context.Context, p auth0.SearchParams) (*auth0.UsersPage, error)
}

// EventSubscriber opens the Events API stream. *auth0.Client satisfies it.
type EventSubscriber interface {
	SubscribeEvents(ctx context.Context, p auth0.EventParams) (*auth0.EventStream, error)
}

// Publisher publishes user.created events to JetStream. *publisher.Publisher
// satisfies it.
type Publisher interface {
	// PublishUsers publishes one event per user and waits for the acks; the
	// results are in the order of users.
	PublishUsers(ctx context.Context, users []auth0.User) []PublishResult
	// PublishDeadLetters publishes unusable users (and oversized stream
	// messages) to <prefix>.dlq.users.invalid and waits for the acks; the
	// results are in the order of dls.
	PublishDeadLetters(ctx context.Context, dls []publisher.DeadLetter) []PublishResult
	// LastCreatedAt is the created_at (verbatim) of the newest event in the
	// stream; ok is false when the stream has none.
	LastCreatedAt(ctx context.Context) (createdAt string, ok bool, err error)
}

// PublishResult is the outcome of one publish: only Acked events are marked
// seen; Duplicate means JetStream's Nats-Msg-Id window already had it.
type PublishResult = publisher.Result

// lastPublished is Publisher.LastCreatedAt parsed (zero when none).
func lastPublished(ctx context.Context, p Publisher) (time.Time, error) {
	s, ok, err := p.LastCreatedAt(ctx)
	if err != nil || !ok {
		return time.Time{}, err
	}
	t, err := parseCreatedAt(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("newest published created_at %q: %w", s, err)
	}
	return t, nil
}

// eventStream is the part of *auth0.EventStream the events source uses; an
// interface so tests can feed scripted streams.
type eventStream interface {
	Next(ctx context.Context) (auth0.Event, error)
	LastOffset() string
	Close() error
}

// subscribeFunc opens a stream; the default wraps Options.Events.
type subscribeFunc func(ctx context.Context, p auth0.EventParams) (eventStream, error)

func subscriberFunc(s EventSubscriber) subscribeFunc {
	return func(ctx context.Context, p auth0.EventParams) (eventStream, error) {
		st, err := s.SubscribeEvents(ctx, p)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

// The production types satisfy the interfaces.
var (
	_ UserSearcher    = (*auth0.Client)(nil)
	_ EventSubscriber = (*auth0.Client)(nil)
	_ Publisher       = (*publisher.Publisher)(nil)
)
