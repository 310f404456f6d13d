package poller

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/internal/tracing/tracingtest"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// A search cycle is one span; its Auth0 search and the publisher's batch
// are its children, and the stored events carry the batch span's
// traceparent (header and CloudEvent attribute; the rig's watcher
// validates every event against its schema).
func TestTracePollCycle(t *testing.T) {
	tp, exp := tracingtest.New(t)
	r := newRig(t, emulator.Knobs{})
	pub, err := publisher.New(r.js, publisher.Options{Names: publisher.NamesFor("auth0"), Source: r.srv.URL + "/", TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	r.pub = &countingPublisher{Publisher: pub, attempts: map[string]int{}}
	client, err := auth0.New(auth0.Config{BaseURL: r.srv.URL, ClientID: r.srv.ClientID, ClientSecret: r.srv.ClientSecret, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ids := seed(t, r.srv.Emulator, "tr", 3, nil, false)
	p, _ := r.poller(Options{Source: SourceSearch, Searcher: client, Start: pollstart.Start{Mode: pollstart.All}, Interval: 200 * time.Millisecond, TracerProvider: tp}, "")
	runPoller(t, p)
	r.expectExactlyOnce(ids, 20*time.Second)

	// The last stored event names its batch span; that span's parent is a
	// poll cycle, which also holds the Auth0 search.
	m, err := r.stream.GetLastMsgForSubject(ctxT(t), "auth0.users.created")
	if err != nil {
		t.Fatal(err)
	}
	var ce struct {
		Traceparent string `json:"traceparent"`
	}
	if err := json.Unmarshal(m.Data, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Traceparent == "" || m.Header.Get("traceparent") != ce.Traceparent {
		t.Fatalf("event traceparent %q, header %q; want both, equal", ce.Traceparent, m.Header.Get("traceparent"))
	}
	var batch, cycle tracetest.SpanStub
	testwait.For(t, 10*time.Second, "the event's batch span inside a poll cycle span", func() bool {
		for _, b := range tracingtest.Named(exp, "publish events") {
			for _, c := range tracingtest.Named(exp, "poll "+SourceSearch) {
				if b.Parent.SpanID() == c.SpanContext.SpanID() && "00-"+b.SpanContext.TraceID().String()+"-"+b.SpanContext.SpanID().String()+"-01" == ce.Traceparent {
					batch, cycle = b, c
					return true
				}
			}
		}
		return false
	})
	for _, s := range exp.GetSpans() {
		if strings.HasPrefix(s.Name, "auth0 GET") && s.Parent.SpanID() == cycle.SpanContext.SpanID() {
			return
		}
	}
	t.Fatalf("no Auth0 GET span under the poll cycle's span (batch %s)", batch.SpanContext.SpanID())
}
