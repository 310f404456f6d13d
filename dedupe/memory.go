package dedupe

import (
	"context"
	"sync"
	"time"
)

type memoryStore struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time
	marks   int // marks since the last sweep
}

// NewMemory returns an in-process Store for tests and `dev`. Marks expire
// after ttl (≤ 0 means DefaultTTL) as measured by now (nil = time.Now), so a
// test can drive expiry with a fake clock. Like Redis SET NX, a Mark never
// extends an existing, unexpired mark; Seen does. Nothing survives the process.
func NewMemory(ttl time.Duration, now func() time.Time) Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &memoryStore{ttl: ttl, now: now, expires: map[string]time.Time{}}
}

func (m *memoryStore) Seen(ctx context.Context, ids []string) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, id := range ids {
		exp, ok := m.expires[id]
		out[i] = ok && now.Before(exp)
		if out[i] {
			m.expires[id] = now.Add(m.ttl) // found again: TTL afresh
		}
	}
	return out, nil
}

func (m *memoryStore) Mark(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if exp, ok := m.expires[id]; ok && now.Before(exp) {
			continue
		}
		m.expires[id] = now.Add(m.ttl)
	}
	// Sweep expired marks once the map has had as many marks as it holds
	// entries: amortised O(1) per mark, memory bounded by about twice the
	// live set.
	m.marks += len(ids)
	if m.marks >= len(m.expires) && m.marks >= 1024 {
		for id, exp := range m.expires {
			if !now.Before(exp) {
				delete(m.expires, id)
			}
		}
		m.marks = 0
	}
	return nil
}
