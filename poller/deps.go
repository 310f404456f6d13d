package poller

import (
	"context"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
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
	// LastCreatedAt is the created_at of the newest event in the stream
	// (zero when the stream is empty).
	LastCreatedAt(ctx context.Context) (time.Time, error)
}

// PublishResult is the outcome of one publish.
type PublishResult struct {
	EventID   string
	Acked     bool // JetStream stored it (or already had it: Duplicate)
	Duplicate bool // JetStream's Nats-Msg-Id window already had this id
	Err       error
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
