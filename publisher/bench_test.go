package publisher_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// benchUsers are 1000 users shaped like chuck (about 650 bytes each), with
// ids unique to the round so JetStream stores every message.
func benchUsers(round int) []auth0.User {
	us := make([]auth0.User, 1000)
	for i := range us {
		id := fmt.Sprintf("auth0|%012x%012x", round, i)
		created := fmt.Sprintf("2026-03-01T10:00:%02d.%03dZ", i/1000%60, i%1000)
		raw := strings.Replace(strings.Replace(chuck, "auth0|63d17c4a9d503d76c056c160", id, 1), "2023-01-25T19:00:26.539Z", created, 1)
		us[i] = auth0.User{UserID: id, CreatedAt: created, Raw: []byte(raw)}
	}
	return us
}

// BenchmarkPublish1000 compares, in one run on one server, PublishUsers of
// 1000 users with a raw baseline: js.PublishMsgAsync of the same bodies and
// headers built beforehand, then PublishAsyncComplete. Each iteration does
// both, back to back, so machine noise hits both alike; the metrics are
// users/s of each and their ratio.
func BenchmarkPublish1000(b *testing.B) {
	srv := testnats.Start(b)
	nc := srv.Connect(b)
	for _, mode := range []struct {
		name   string
		fields []string
		max    int
		traced bool // tracing on: an SDK provider batching to a discarding exporter
	}{
		{name: "default"},
		{name: "tracing", traced: true},
		{name: "inflight-1000", max: 1000},
		{name: "EVENT_FIELDS", fields: []string{"email", "identities", "app_metadata"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			n := publisher.NamesFor("bench_" + strings.ReplaceAll(mode.name, "-", "_"))
			if err := publisher.EnsureAll(context.Background(), js, n, publisher.StreamOptions{}, slog.New(slog.DiscardHandler)); err != nil {
				b.Fatal(err)
			}
			o := publisher.Options{Names: n, Source: "https://tenant.eu.auth0.com/", EventFields: mode.fields, MaxInFlight: mode.max}
			if mode.traced {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				o.TracerProvider = tp
			}
			p, err := publisher.New(js, o)
			if err != nil {
				b.Fatal(err)
			}
			round := 0
			var rawTime, pubTime time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				us := benchUsers(round)
				raw := benchUsers(round + 1)
				round += 2
				msgs := make([]*nats.Msg, len(raw))
				for i, u := range raw {
					id, body, err := p.Envelope(u)
					if err != nil {
						b.Fatal(err)
					}
					msgs[i] = &nats.Msg{Subject: p.Subject(), Data: body, Header: nats.Header{"Nats-Msg-Id": {id}, "Content-Type": {publisher.ContentType}}}
				}
				b.StartTimer()

				t0 := time.Now()
				for _, m := range msgs {
					if _, err := js.PublishMsgAsync(m); err != nil {
						b.Fatal(err)
					}
				}
				<-js.PublishAsyncComplete()
				t1 := time.Now()
				for i, r := range p.PublishUsers(context.Background(), us) {
					if !r.Acked {
						b.Fatalf("user %d: %v", i, r.Err)
					}
				}
				t2 := time.Now()
				rawTime += t1.Sub(t0)
				pubTime += t2.Sub(t1)
			}
			b.ReportMetric(float64(b.N*1000)/rawTime.Seconds(), "raw-users/s")
			b.ReportMetric(float64(b.N*1000)/pubTime.Seconds(), "publisher-users/s")
			b.ReportMetric(rawTime.Seconds()/pubTime.Seconds(), "publisher/raw")
		})
	}
}

// BenchmarkEnvelope is the CPU cost of building one event body.
func BenchmarkEnvelope(b *testing.B) {
	for _, fields := range [][]string{nil, {"email", "identities", "app_metadata"}} {
		b.Run(fmt.Sprintf("fields=%d", len(fields)), func(b *testing.B) {
			p, err := publisher.New(&silentJS{}, publisher.Options{Names: publisher.NamesFor("auth0"), Source: "https://t/", EventFields: fields})
			if err != nil {
				b.Fatal(err)
			}
			u := chuckUser()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Envelope(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
