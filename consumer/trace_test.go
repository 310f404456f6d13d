package consumer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/internal/tracing"
	"github.com/auth0-worker/auth0-worker/internal/tracing/tracingtest"
)

// The caller's span: the command continues its trace.
const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
	callerTP    = "00-" + callerTrace + "-" + callerSpan + "-01"
)

func newTraced(t *testing.T) (*env, *tracetest.InMemoryExporter) {
	tp, exp := tracingtest.New(t)
	return newEnv(t, envConfig{tp: tp}), exp
}

// checkTrace finds the command's span (a child of the caller's span), at
// least one Auth0 HTTP span under it, and returns the command span's
// traceparent, which the reply or result must carry.
func checkTrace(t *testing.T, exp *tracetest.InMemoryExporter, name string) string {
	t.Helper()
	var cmd tracetest.SpanStub
	testwait.For(t, 10*time.Second, "span "+name, func() bool {
		spans := tracingtest.Named(exp, name)
		if len(spans) > 0 {
			cmd = spans[0]
		}
		return len(spans) > 0
	})
	if got := cmd.SpanContext.TraceID().String(); got != callerTrace {
		t.Fatalf("command span in trace %s, want the caller's %s", got, callerTrace)
	}
	if got := cmd.Parent.SpanID().String(); got != callerSpan || !cmd.Parent.IsRemote() {
		t.Fatalf("command span's parent %s (remote %v), want the caller's %s", got, cmd.Parent.IsRemote(), callerSpan)
	}
	if cmd.SpanKind != trace.SpanKindConsumer {
		t.Errorf("command span kind %v, want consumer", cmd.SpanKind)
	}
	var auth0Paths []string
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, "auth0 ") && s.Parent.SpanID() == cmd.SpanContext.SpanID() {
			if s.SpanContext.TraceID() != cmd.SpanContext.TraceID() {
				t.Errorf("auth0 span %s in another trace", s.Name)
			}
			for _, a := range s.Attributes {
				if a.Key == "url.path" {
					auth0Paths = append(auth0Paths, s.Name+" "+a.Value.AsString())
				}
			}
		}
	}
	if !containsPrefix(auth0Paths, "auth0 POST /api/v2/users") {
		t.Fatalf("no Auth0 POST /api/v2/users span under the command span; children: %v", auth0Paths)
	}
	return "00-" + callerTrace + "-" + cmd.SpanContext.SpanID().String() + "-01"
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tracedCmd is a create with the caller's traceparent on subject.
func tracedCmd(subject, email string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(`{"connection":"` + conn + `","email":"` + email + `","password":"Secret-123!"}`)
	m.Header.Set(tracing.HeaderTraceparent, callerTP)
	return m
}

// checkAnswer: a success carrying the command span's traceparent.
func checkAnswer(t *testing.T, exp *tracetest.InMemoryExporter, h nats.Header, data []byte) {
	t.Helper()
	if code := h.Get(HeaderErrorCode); code != "" {
		t.Fatalf("create failed: %s %s", code, data)
	}
	want := checkTrace(t, exp, CmdCreate+" process")
	if got := h.Get(tracing.HeaderTraceparent); got != want {
		t.Fatalf("answer's traceparent %q, want the command span's %q", got, want)
	}
}

func TestTraceRequestReply(t *testing.T) {
	e, exp := newTraced(t)
	resp, err := e.nc.RequestMsg(tracedCmd(e.c.ServiceSubject(CmdCreate), "trace-rr@example.com"), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, exp, resp.Header, resp.Data)
}

func TestTraceDurable(t *testing.T) {
	e, exp := newTraced(t)
	m := tracedCmd(e.c.CommandSubject(CmdCreate), "trace-durable@example.com")
	m.Header.Set(HeaderMsgID, "trace-1")
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	res := e.waitResult("trace-1")
	checkAnswer(t, exp, res.Header, res.Data)
}

// Off (no provider), a traceparent is neither continued nor echoed.
func TestTraceOffAddsNothing(t *testing.T) {
	e := newEnv(t, envConfig{})
	m := nats.NewMsg(e.c.ServiceSubject(CmdGet))
	m.Data = []byte(`{"user_id":"auth0|nobody"}`)
	m.Header.Set(tracing.HeaderTraceparent, callerTP)
	resp, err := e.nc.RequestMsg(m, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get(tracing.HeaderTraceparent); got != "" {
		t.Fatalf("tracing off, reply traceparent %q, want none", got)
	}
}
