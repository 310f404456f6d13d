package publisher_test

import (
	"encoding/json"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/tracing/tracingtest"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// With a TracerProvider a batch is one producer span under the caller's,
// and each stored event carries that span's traceparent as the NATS header
// and as the CloudEvents extension attribute (the event schema accepts it:
// e.messages validates every event). Off, TestEnvelopeExact shows nothing
// is added.
func TestTraceEventsCarryTraceparent(t *testing.T) {
	tp, exp := tracingtest.New(t)
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{TracerProvider: tp})
	cctx, cycle := tp.Tracer("test").Start(ctx(t), "poll search")
	res := p.PublishUsers(cctx, []auth0.User{chuckUser(), user(1, "2026-03-01T10:00:00.000Z")})
	cycle.End()
	for _, r := range res {
		if !r.Acked || r.Err != nil {
			t.Fatalf("result %+v", r)
		}
	}
	spans := tracingtest.Named(exp, "publish events")
	if len(spans) != 1 {
		t.Fatalf("%d batch spans, want 1", len(spans))
	}
	batch := spans[0]
	if batch.Parent.SpanID() != cycle.SpanContext().SpanID() || batch.SpanContext.TraceID() != cycle.SpanContext().TraceID() {
		t.Fatalf("batch span %q parent %v, want the caller's span %v", batch.Name, batch.Parent.SpanID(), cycle.SpanContext().SpanID())
	}
	want := "00-" + batch.SpanContext.TraceID().String() + "-" + batch.SpanContext.SpanID().String() + "-01"
	msgs := e.messages(t)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if got := m.Header.Get("traceparent"); got != want {
			t.Errorf("header traceparent %q, want %q", got, want)
		}
		var ce struct {
			Traceparent string `json:"traceparent"`
		}
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.Traceparent != want {
			t.Errorf("event attribute traceparent %q, want %q: %s", ce.Traceparent, want, m.Data)
		}
	}
}
