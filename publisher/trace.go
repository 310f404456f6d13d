package publisher

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/tracing"
)

// Traces (Options.TracerProvider): one producer span per PublishUsers
// batch, a child of the caller's span (the poller's cycle). Every event of
// the batch carries the batch span's traceparent twice: as the NATS header
// and as the CloudEvents distributed-tracing extension attribute
// "traceparent" in the event JSON (written by the envelope, no
// re-marshalling). Off (nil provider) nothing is started or added.

// startBatch starts the span of a batch of n users; off, it returns a nil
// span and no traceparent.
func (p *Publisher) startBatch(ctx context.Context, n int) (trace.Span, string) {
	if p.tr == nil {
		return nil, ""
	}
	ctx, span := p.tr.Start(ctx, "publish events", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.Int("messaging.batch.message_count", n)))
	return span, tracing.Traceparent(ctx)
}

// endBatch records how many of the batch failed and ends span.
func endBatch(span trace.Span, results []Result) {
	if span == nil {
		return
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
	}
	span.SetAttributes(attribute.Int("auth0_worker.failed", failed))
	if failed > 0 {
		span.SetStatus(codes.Error, "some events not published")
	}
	span.End()
}

// traceHeaderBytes is the wire size of the traceparent header ("" = none).
func traceHeaderBytes(tp string) int {
	if tp == "" {
		return 0
	}
	return len(tracing.HeaderTraceparent) + len(": \r\n") + len(tp)
}
