package emulator

import "time"

// streamTimeout is the EventsErrorAfter timer of one connection (a nil
// channel when the knob is off) and its stop function.
func streamTimeout(k Knobs) (<-chan time.Time, func()) {
	if k.EventsErrorAfter <= 0 {
		return nil, func() {}
	}
	t := time.NewTimer(k.EventsErrorAfter)
	return t.C, func() { t.Stop() }
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
