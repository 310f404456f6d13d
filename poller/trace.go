package poller

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Traces (Options.TracerProvider): one span per poll cycle — a search
// cycle, or one batch of the events source — whose context reaches the
// Auth0 calls made in it and the publisher's batch spans. Off (nil
// provider), a no-op span.

// startCycle starts the span of one cycle of source.
func (p *Poller) startCycle(ctx context.Context, source string) (context.Context, trace.Span) {
	if p.tr == nil {
		return ctx, noop.Span{}
	}
	return p.tr.Start(ctx, "poll "+source, trace.WithAttributes(attribute.String("auth0_worker.source", source)))
}

// endCycle records err on span and ends it.
func endCycle(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
