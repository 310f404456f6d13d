package poller

import (
	"context"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// sink is the Sink of one source: the Poller's pipeline under one label
// (the metrics label and the Dlq-Source header).
type sink struct {
	p     *Poller
	label string
}

// sinkFor is the Sink of the registered source name.
func (p *Poller) sinkFor(name string) Sink {
	r, ok := lookup(name)
	if !ok {
		return sink{p: p, label: name}
	}
	return sink{p: p, label: r.label()}
}

func (s sink) Publish(ctx context.Context, users []auth0.User) (int, error) {
	ctx, span := s.p.startCycle(ctx, s.label)
	res, err := s.publish(ctx, users, 0)
	endCycle(span, err)
	return res.done, err
}

// publish runs the pipeline under flushCtx: a batch started before a
// shutdown or a lost leadership is finished, not abandoned half way.
func (s sink) publish(ctx context.Context, users []auth0.User, maxPublish int) (batchResult, error) {
	fctx, done := flushCtx(ctx)
	defer done()
	return s.p.pipe.process(fctx, s.label, users, maxPublish)
}

func (s sink) oversized(ctx context.Context, offsets []string) error {
	fctx, done := flushCtx(ctx)
	defer done()
	return s.p.pipe.oversized(fctx, s.label, offsets)
}

func (s sink) forSource(name string) Sink { return s.p.sinkFor(name) }
