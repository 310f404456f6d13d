package consumer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// In-flight work at shutdown: a request-reply command that fits in the
// grace finishes and is answered; a durable command that does not is
// cancelled, nak'ed, and completed (once) by the next process.
func TestShutdownFinishesOrNaks(t *testing.T) {
	e := newEnv(t, envConfig{opts: func(o *Options) { o.ShutdownGrace = 2500 * time.Millisecond }})
	e.request(CmdGet, `{"user_id":"auth0|warm-up"}`, nil) // the token, before the latency
	e.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.Latency = 1500 * time.Millisecond })
	// A svc request that will be in flight when shutdown starts.
	svcDone := make(chan reply, 1)
	go func() { svcDone <- e.request(CmdGet, `{"user_id":"auth0|x"}`, nil) }()
	testwait.For(t, 5*time.Second, "svc request in flight", func() bool { return len(e.c.sem) == 1 })

	start := time.Now()
	e.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Run took %v to return", d)
	}
	if r := <-svcDone; r.status != 404 {
		t.Fatalf("in-flight svc request got %d %s, want Auth0's 404", r.status, r.body)
	}

	// Durable create longer than the grace: nak'ed, then done by the next process.
	e.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.Latency = 3 * time.Second })
	o := e.c.o
	o.ShutdownGrace = 300 * time.Millisecond
	c2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c2
	e.start()
	e.publishCmd(CmdCreate, "sd-1", `{"connection":"`+conn+`","email":"sd@example.com","password":"Secret-123!"}`)
	testwait.For(t, 5*time.Second, "durable command running", func() bool { return len(e.c.sem) == 1 })
	start = time.Now()
	e.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Run took %v to return with a 300ms grace", d)
	}
	if n := resultsCount(t, e); n != 0 {
		t.Fatalf("a cancelled command published %d outcomes", n)
	}
	e.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.Latency = 0 })
	c3, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c3
	e.start()
	r := e.waitResult("sd-1")
	if r.Header.Get(HeaderErrorCode) != "" || !strings.Contains(string(r.Data), "sd@example.com") {
		t.Fatalf("after restart: %v %s", r.Header, r.Data)
	}
	if n := e.em.Emulator.UserCount(); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}

func TestMetricsRecorded(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.request(CmdGet, `{"user_id":"auth0|x"}`, nil)
	e.request(CmdGet, `{"user_id":1}`, nil)
	e.publishCmd(CmdDelete, "m-1", `{"user_id":"auth0|x"}`)
	e.waitResult("m-1")
	e.publishCmd(CmdDelete, "", `{"user_id":"auth0|x"}`)
	e.waitDLQ("auth0.dlq.cmd.users.delete")
	// The counter moves just after the dead letter's publish is acknowledged.
	testwait.For(t, 5*time.Second, "dlq metric", func() bool { return counterValue(e.m.DLQ.WithLabelValues(CmdDelete)) == 1 })
	testwait.For(t, 5*time.Second, "cmd ok metric", func() bool { return counterValue(e.m.Commands.WithLabelValues(CmdDelete, "cmd", "ok")) == 1 })
	for _, tc := range []struct {
		got  float64
		want float64
		name string
	}{
		{counterValue(e.m.Commands.WithLabelValues(CmdGet, "svc", "404")), 1, "svc 404"},
		{counterValue(e.m.Commands.WithLabelValues(CmdGet, "svc", "400")), 1, "svc 400"},
		{counterValue(e.m.Commands.WithLabelValues(CmdDelete, "cmd", "ok")), 1, "cmd ok"},
		{counterValue(e.m.DLQ.WithLabelValues(CmdDelete)), 1, "dlq"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	var h dto.Metric
	if err := e.m.CommandDuration.WithLabelValues(CmdGet).(prometheus.Histogram).Write(&h); err != nil || h.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("users.get duration samples: %v %v", h.GetHistogram().GetSampleCount(), err)
	}
	var _ jetstream.JetStream = e.js
	_ = context.Background
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
