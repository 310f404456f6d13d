package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

func TestOffWithoutEndpoint(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tp, shutdown, err := Setup(slog.New(slog.DiscardHandler), "auth0-worker", "test")
	if err != nil || tp != nil {
		t.Fatalf("Setup = %v, %v; want nil provider (off)", tp, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if Tracer(tp, "x") != nil {
		t.Fatal("a tracer while off")
	}
}

// On, spans reach the OTLP/HTTP endpoint at the latest when shutdown
// flushes them.
func TestExportsToTheEndpointOnShutdown(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	tp, shutdown, err := Setup(slog.New(slog.DiscardHandler), "auth0-worker", "test")
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_, span := Tracer(tp, "test").Start(context.Background(), "one")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if posts.Load() == 0 {
		t.Fatal("no POST /v1/traces reached the endpoint")
	}
}

// NATS headers are case-sensitive: traceparent is read and written
// lower-case, exactly.
func TestHeaderRoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := Extract(context.Background(), map[string][]string{"traceparent": {tp}})
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || !sc.IsRemote() {
		t.Fatalf("no remote span context from %q", tp)
	}
	h := map[string][]string{}
	Inject(ctx, h)
	if got := h["traceparent"]; len(got) != 1 || got[0] != tp {
		t.Fatalf("injected %v, want traceparent %q", h, tp)
	}
	if Traceparent(ctx) != tp {
		t.Fatalf("Traceparent = %q", Traceparent(ctx))
	}
	if ctx := Extract(context.Background(), map[string][]string{"Traceparent": {tp}}); trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("Traceparent (capitalised) accepted; NATS headers are case-sensitive")
	}
	h = map[string][]string{}
	Inject(context.Background(), h)
	if len(h) != 0 {
		t.Fatalf("injected %v without a span", h)
	}
}

// A batch the endpoint refuses is logged through the worker's logger (JSON
// in production), not printed by the SDK to stderr.
func TestAnUndeliveredBatchIsLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	var buf testproc.Buffer
	tp, shutdown, err := Setup(slog.New(slog.NewJSONHandler(&buf, nil)), "auth0-worker", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := Tracer(tp, "test").Start(context.Background(), "one")
	span.End()
	_ = shutdown(context.Background())
	if got := buf.String(); !strings.Contains(got, `"msg":"tracing: spans not exported"`) || !strings.Contains(got, "400") {
		t.Fatalf("log: %q; want the refused batch as a warning", got)
	}
}
