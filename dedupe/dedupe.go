// Package dedupe remembers which event ids were published, so the poller
// publishes each user once. Two implementations share one contract and one
// conformance suite: Redis (production) and in-memory (tests and dev).
package dedupe

import "context"

// Store is a seen-set of event ids. Implementations must be safe for
// concurrent use. Marking is idempotent; a mark expires after the store's TTL.
type Store interface {
	// Seen reports, for each id, whether it was marked, and restarts the
	// TTL of every id it finds (README "Bad data": a user found again, say one
	// that stays in the search window, is never republished when its first
	// mark would have run out). One round trip for the whole batch
	// (pipelined in Redis).
	Seen(ctx context.Context, ids []string) ([]bool, error)
	// Mark records ids as published. Callers mark only after JetStream
	// acknowledged the publish. One round trip for the whole batch.
	Mark(ctx context.Context, ids []string) error
}
