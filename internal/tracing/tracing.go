// Package tracing sets up OpenTelemetry traces for the worker and carries
// W3C trace context in NATS headers.
//
// Tracing is on only when the standard OTLP variables name an endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); the
// exporter (OTLP over HTTP/protobuf, otlp.go) reads the other
// OTEL_EXPORTER_OTLP_* variables (otlpenv.go). Off, Setup returns a nil
// provider: the components then start no span and add no header (no cost).
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceparent is the W3C trace-context header, on commands, their
// replies and results, and events (also the CloudEvents distributed-tracing
// extension attribute of the same name).
const HeaderTraceparent = "traceparent"

// Enabled reports whether the environment names an OTLP endpoint.
func Enabled(getenv func(string) string) bool {
	_, endpoint := otlpEnv(getenv).get("ENDPOINT")
	return endpoint != ""
}

// Setup returns the process's tracer provider and its shutdown (which
// flushes the spans still batched). Without an OTLP endpoint in the
// environment both are no-ops and the provider is nil. On, a batch the
// exporter could not deliver is logged to log as a warning (the SDK would
// print it to stderr in plain text).
func Setup(log *slog.Logger, service, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if !Enabled(os.Getenv) {
		return nil, func(context.Context) error { return nil }, nil
	}
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: spans not exported", "err", err)
	}))
	exp := newExporter(cfg, service+"/"+version)
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", version))
	res, err = resource.Merge(resource.Default(), res) // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME too
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// Tracer is tp's tracer for a component, or nil when tp is nil (off).
func Tracer(tp trace.TracerProvider, component string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer("github.com/auth0-worker/auth0-worker/" + component)
}

// propagator is W3C trace context only: what commands and events carry.
var propagator = propagation.TraceContext{}

// Header is a carrier over NATS headers (nats.Header has the same shape).
// Unlike http.Header its keys are used exactly as written: NATS headers
// are case-sensitive, and the header is lower-case "traceparent".
type Header map[string][]string

// Get returns the first value of key.
func (h Header) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces key's values.
func (h Header) Set(key, value string) { h[key] = []string{value} }

// Keys lists the keys present.
func (h Header) Keys() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}

// Extract returns ctx with the remote span context of h's traceparent (ctx
// unchanged when h has none or an invalid one).
func Extract(ctx context.Context, h map[string][]string) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, Header(h))
}

// Traceparent is the traceparent of ctx's span ("" without a valid one).
func Traceparent(ctx context.Context) string {
	h := Header{}
	propagator.Inject(ctx, h)
	return h.Get(HeaderTraceparent)
}

// Inject sets h's traceparent (and tracestate) from ctx's span; nothing
// without a valid span context.
func Inject(ctx context.Context, h map[string][]string) {
	if h == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, Header(h))
}
