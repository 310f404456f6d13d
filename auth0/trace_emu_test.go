package auth0_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/tracing/tracingtest"
)

// With a TracerProvider every HTTP attempt (the token request too) is a
// client span under the caller's span, recording the path but never the
// query (it may hold an email) nor a header or body.
func TestTraceSpansPerAttempt(t *testing.T) {
	tp, exp := tracingtest.New(t)
	env := newEnv(t, emulator.Config{}, func(c *auth0.Config) { c.TracerProvider = tp })
	ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
	if _, err := env.c.UsersByEmail(ctx, "secret.person@example.com"); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var paths []string
	for _, s := range exp.GetSpans() {
		if s.Name == "caller" {
			continue
		}
		if s.SpanKind != trace.SpanKindClient || s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s: kind %v parent %v, want a client span under the caller", s.Name, s.SpanKind, s.Parent.SpanID())
		}
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "secret.person") || strings.Contains(a.Value.String(), env.srv.ClientSecret) {
				t.Errorf("span %s attribute %s leaks %q", s.Name, a.Key, a.Value.String())
			}
			if a.Key == "url.path" {
				paths = append(paths, s.Name+" "+a.Value.AsString())
			}
		}
	}
	want := []string{"auth0 POST /oauth/token", "auth0 GET /api/v2/users-by-email"}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Fatalf("spans %v, want %v", paths, want)
	}
}
