package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lastScanMax bounds how many messages LastCreatedAt looks at below the
// newest one before it gives up on finding one of its own.
const lastScanMax = 1000

// LastCreatedAt returns the CloudEvent `time` (the user's created_at,
// verbatim) of the newest of this worker's events on <prefix>.users.created;
// ok is false when there is none. It is only a fallback of the events
// source when its own resume point (cursor:events) is missing (README
// "Bad data"). Messages that are not this worker's CloudEvents (anyone with publish
// rights can put one there) are skipped, never fatal: the walk goes back
// through at most lastScanMax messages.
func (p *Publisher) LastCreatedAt(ctx context.Context) (string, bool, error) {
	s, err := p.js.Stream(ctx, p.o.Names.Users)
	if err != nil {
		return "", false, fmt.Errorf("last event: stream %s: %w", p.o.Names.Users, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, p.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("last event on %s: %w", p.subject, err)
	}
	for seq, n := m.Sequence, 0; n < lastScanMax; n++ {
		if m != nil && m.Subject == p.subject {
			if t, ok := p.ownEventTime(m.Data); ok {
				return t, true, nil
			}
		}
		if seq <= 1 {
			break
		}
		seq--
		m, err = s.GetMsg(ctx, seq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			m = nil // deleted or expired: keep walking
		case err != nil:
			return "", false, fmt.Errorf("last event on %s (seq %d): %w", p.subject, seq, err)
		}
	}
	return "", false, nil
}

// ownEventTime is the time of one of this worker's events (same source and
// type, an RFC 3339 time); not ok for anything else.
func (p *Publisher) ownEventTime(data []byte) (string, bool) {
	var ev struct {
		SpecVersion string `json:"specversion"`
		Source      string `json:"source"`
		Type        string `json:"type"`
		Time        string `json:"time"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.SpecVersion != "1.0" || ev.Source != p.o.Source || ev.Type != EventType {
		return "", false
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
		return "", false
	}
	return ev.Time, true
}
