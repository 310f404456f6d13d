// Package tick runs a periodic step until its context ends: the one loop
// of the lease renewals, the consumer's drop counting and the dev command's
// sign-ups.
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
