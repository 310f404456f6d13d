package emulator

import (
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// BenchmarkEventLogAppend: one user.created appended to the log (envelope,
// offset, SSE framing), the cost the user store pays per change.
func BenchmarkEventLogAppend(b *testing.B) {
	e := New(Config{})
	user := evUserJSON(1, time.Now())
	b.ReportAllocs()
	b.SetBytes(int64(len(user)))
	for b.Loop() {
		e.events.append("user.created", user)
	}
}

// BenchmarkEventsStreamDelivery: events appended and read back by one SSE
// client over HTTP (the whole path: wake-up, copy, write, flush, parse).
func BenchmarkEventsStreamDelivery(b *testing.B) {
	e, base := evServe(b, Config{Knobs: Knobs{EventsHeartbeat: time.Hour}})
	c, _ := evOpen(b, base, evReq{})
	c.next(b, func(m auth0.SSEMessage) bool { return m.Retry > 0 })
	user := evUserJSON(1, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			e.events.append("user.created", user)
		}
	}()
	for range b.N {
		c.next(b, evIsEvent)
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
