package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LastCreatedAt returns the CloudEvent `time` (the user's created_at,
// verbatim) of the newest message on <prefix>.users.created; ok is false when
// the subject has no message. The events source uses it for from_timestamp
// after losing its offset (README "The event"). It is the last message stored, not
// the largest created_at: sources publish in created_at order, and the
// caller subtracts POLL_OVERLAP anyway.
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
	var ev struct {
		Time string `json:"time"`
	}
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Time == "" {
		return "", false, fmt.Errorf("last event on %s (seq %d): no CloudEvent time", p.subject, m.Sequence)
	}
	return ev.Time, true, nil
}
