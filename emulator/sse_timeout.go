package emulator

import (
	"context"
	"errors"
	"slices"
	"time"
)

// errStreamTimeout is the cause of a connection ended by EventsErrorAfter,
// the one way out that sends a last message.
var errStreamTimeout = errors.New("emulator: stream timeout")

// ends returns a context that is done when ctx is, on closeAll, after
// EventsCycle and after EventsErrorAfter (each when > 0), so a connection
// waits on one channel; context.Cause is errStreamTimeout when that came
// first. stop releases the timers.
func (s *evStream) ends(ctx context.Context, k Knobs) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stopClosing := context.AfterFunc(s.closing, func() { cancel(nil) })
	stops := []func(){func() { stopClosing(); cancel(nil) }}
	for _, t := range []struct {
		after time.Duration
		cause error
	}{{k.EventsCycle, context.DeadlineExceeded}, {k.EventsErrorAfter, errStreamTimeout}} {
		if t.after > 0 {
			var c context.CancelFunc
			ctx, c = context.WithTimeoutCause(ctx, t.after, t.cause)
			stops = append(stops, c)
		}
	}
	return ctx, func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
}

// sendTimeout ends a connection as Auth0 does when it times one out: a
// terminal `event: error` with the code and the offset to reconnect from.
func (s *evStream) sendTimeout(k Knobs, cur evCursor) {
	code, msg := EventsErrorTimeout, "The stream timed out; reconnect from the offset."
	if k.EventsErrorCode == EventsErrorConnectionTimeout {
		code, msg = EventsErrorConnectionTimeout, "The connection timed out; reconnect from the offset."
	}
	s.sendError(code, msg, s.l.encodeOffset(cur))
	s.flush()
}
