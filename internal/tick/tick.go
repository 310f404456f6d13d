// Package tick waits on time until a context ends: the one periodic loop
// (lease renewals, the consumer's drop counting, the dev command's sign-ups)
// and the one sleep of every retry loop.
package tick

import (
	"context"
	"time"
)

// Every calls step once first has passed, then every period, until ctx is
// done or step returns false. A step that overruns the period is followed
// by the next at once, not by a burst (the ticker drops missed ticks).
func Every(ctx context.Context, first, period time.Duration, step func() bool) {
	t := time.NewTicker(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !step() {
			return
		}
		if first != period {
			t.Reset(period)
			first = period
		}
	}
}

// Sleep waits d, or reports false when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
