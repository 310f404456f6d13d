package consumer

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/auth0-worker/auth0-worker/internal/tracing"
)

// Traces (Options.TracerProvider): one consumer span per command, on both
// transports, continuing the trace of the command's traceparent header; the
// Auth0 client's spans are its children (through the execution context) and
// the reply or result carries the span's traceparent. Off (nil provider),
// nothing is started, extracted or added.

// startSpan starts the span of one command; off, it returns ctx and a
// no-op span.
func (c *Consumer) startSpan(ctx context.Context, transport, command string, h nats.Header) (context.Context, trace.Span) {
	if c.tr == nil {
		return ctx, noop.Span{}
	}
	ctx = tracing.Extract(ctx, h)
	return c.tr.Start(ctx, command+" process", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("auth0_worker.command", command),
			attribute.String("auth0_worker.transport", transport)))
}

// spanOutcome records o's status on span.
func spanOutcome(span trace.Span, o Outcome) {
	if span == nil || !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.Int("auth0_worker.status", o.Status))
	if !o.OK() {
		span.SetStatus(codes.Error, o.Error)
	}
}

// withSpan is ctx carrying span (for a context made elsewhere, execCtx).
func withSpan(ctx context.Context, span trace.Span) context.Context {
	if span == nil || !span.SpanContext().IsValid() {
		return ctx
	}
	return trace.ContextWithSpan(ctx, span)
}

// injectSpan sets m's traceparent to span's (nothing for a nil or no-op span).
func injectSpan(m *nats.Msg, span trace.Span) {
	if span == nil {
		return
	}
	if sc := span.SpanContext(); sc.IsValid() {
		tracing.Inject(trace.ContextWithSpanContext(context.Background(), sc), m.Header)
	}
}
