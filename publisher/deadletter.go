package publisher

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead-letter headers (README "Bad data", "Commands").
const (
	HeaderDlqReason = "Dlq-Reason"
	HeaderDlqSource = "Dlq-Source"
	HeaderDlqOffset = "Dlq-Offset"
	// HeaderDlqDetail says which field was wrong and how, in one line.
	HeaderDlqDetail = "Dlq-Detail"
)

// ReasonSSEMessageTooLarge is the Dlq-Reason of an Events API message over
// the client's size bound.
const ReasonSSEMessageTooLarge = "sse_message_too_large"

// DeadLetter is an unusable user, or an Events API message too large to
// read, on its way to <prefix>.dlq.users.invalid (stream <PREFIX>_DLQ).
type DeadLetter struct {
	// ID is the Nats-Msg-Id: InvalidID(user) or OversizedID(offset). The
	// caller marks it seen once acknowledged.
	ID     string
	Reason string // Dlq-Reason: an auth0.Reason* constant or ReasonSSEMessageTooLarge
	Source string // Dlq-Source: events, search, reconcile, webhook
	Offset string // Dlq-Offset (Events API messages); "" = none
	Detail string // Dlq-Detail; "" = none
	// Body is the raw user JSON; cut to fit the max payload (so possibly
	// not valid JSON). Empty for an oversized stream message.
	Body []byte
}

// InvalidSubject is <prefix>.dlq.users.invalid.
func (n Names) InvalidSubject() string { return n.Prefix + ".dlq.users.invalid" }

// PublishDeadLetters publishes each dead letter and waits for the acks, like
// PublishUsers (results in input order; EventID is the dead letter's ID).
func (p *Publisher) PublishDeadLetters(ctx context.Context, dls []DeadLetter) []Result {
	results := make([]Result, len(dls))
	if len(dls) == 0 {
		return results
	}
	limit := p.maxPayload()
	msgs := make([]*nats.Msg, len(dls))
	for i, d := range dls {
		h := nats.Header{
			jetstream.MsgIDHeader: []string{d.ID},
			HeaderDlqReason:       []string{headerValue(d.Reason)},
			HeaderDlqSource:       []string{headerValue(d.Source)},
		}
		if d.Offset != "" {
			h.Set(HeaderDlqOffset, headerValue(d.Offset))
		}
		if d.Detail != "" {
			h.Set(HeaderDlqDetail, headerValue(d.Detail))
		}
		room := limit - 1024 - len(d.ID) - len(d.Offset)
		body := d.Body
		if len(body) > room {
			body = body[:max(room, 0)]
		}
		results[i].EventID = d.ID
		msgs[i] = &nats.Msg{Subject: p.o.Names.InvalidSubject(), Data: body, Header: h}
	}
	p.publishAll(ctx, msgs, results)
	return results
}
