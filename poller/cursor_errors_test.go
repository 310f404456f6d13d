package poller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// A saved offset older than the stream's retention answers 410: the poller
// resumes with from_timestamp (newest published created_at − overlap) and
// loses nobody who signed up while it was stopped.
func TestEventsExpiredOffsetResumesFromTimestamp(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsRetention: time.Second, EventsHeartbeat: 100 * time.Millisecond})
	p1, _ := r.poller(Options{Source: SourceEvents, Overlap: 10 * time.Second}, "")
	cancel, _ := runPoller(t, p1)
	testwait.For(t, 3*time.Second, "leader", p1.IsLeader)
	before := seed(t, r.srv.Emulator, "before", 20, nil, false)
	t.Cleanup(func() {
		if t.Failed() {
			for _, q := range r.srv.Emulator.Requests() {
				t.Logf("%s %s %d lei=%q q=%s", q.Time.Format("15:04:05.000"), q.Path, q.Status, q.LastEventID, q.Query)
			}
		}
	})
	r.expectExactlyOnce(before, 5*time.Second)
	cancel()
	testwait.For(t, 10*time.Second, "the first poller to stop", func() bool { return !p1.IsLeader() })

	during := seed(t, r.srv.Emulator, "during", 10, nil, false)
	// Let the saved offset age past the retention: the condition under test.
	<-time.After(1500 * time.Millisecond)

	p2, _ := r.poller(Options{Source: SourceEvents, Overlap: 10 * time.Second}, "")
	runPoller(t, p2)
	r.expectExactlyOnce(append(before, during...), 10*time.Second)
	// After the 410 the gap is searched, then the stream resumes from a timestamp.
	testwait.For(t, 10*time.Second, "a 410 for the expired offset, then a from_timestamp connection", func() bool {
		var gone, fromTS int
		for _, q := range r.srv.Emulator.Requests() {
			if q.Path != "/api/v2/events" {
				continue
			}
			if q.LastEventID != "" && q.Status == 410 {
				gone++
			}
			if gone > 0 && q.LastEventID == "" && q.Status == 200 && containsParam(q.Query, "from_timestamp") {
				fromTS++
			}
		}
		return gone > 0 && fromTS > 0
	})
}

func containsParam(query, name string) bool {
	for _, kv := range splitQuery(query) {
		if kv == name || len(kv) > len(name) && kv[:len(name)+1] == name+"=" {
			return true
		}
	}
	return false
}

func splitQuery(q string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(q); i++ {
		if i == len(q) || q[i] == '&' {
			out = append(out, q[start:i])
			start = i + 1
		}
	}
	return out
}

// An `event: error` invalid_cursor is final for that offset: the poller must
// resume from a timestamp instead of reconnecting with the same offset
// forever.
func TestEventsInvalidCursorResumesFromTimestamp(t *testing.T) {
	r := newRig(t, emulator.Knobs{})
	p, _ := r.poller(Options{Source: SourceEvents}, "")
	var mu sync.Mutex
	var calls []auth0.EventParams
	p.subscribe = func(ctx context.Context, ep auth0.EventParams) (eventStream, error) {
		mu.Lock()
		calls = append(calls, ep)
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			return &scriptedStream{err: fmt.Errorf("events: %w", auth0.ErrInvalidCursor)}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	// A saved offset the stream will call invalid.
	if err := r.rs.Client(t).Set(context.Background(), r.keys.CursorEvents(), "offset-the-stream-rejects", 0).Err(); err != nil {
		t.Fatal(err)
	}
	runPoller(t, p)
	testwait.For(t, 5*time.Second, "a second subscription", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	if calls[0].LastEventID != "offset-the-stream-rejects" {
		t.Fatalf("the first subscription did not resume from the saved offset: %+v", calls[0])
	}
	if calls[1].LastEventID != "" || calls[1].FromTimestamp.IsZero() {
		t.Fatalf("after invalid_cursor the poller resubscribed with %+v; want from_timestamp and no offset", calls[1])
	}
}

// scriptedStream ends with err on the first Next.
type scriptedStream struct{ err error }

func (s *scriptedStream) Next(context.Context) (auth0.Event, error) { return auth0.Event{}, s.err }
func (s *scriptedStream) LastOffset() string                        { return "" }
func (s *scriptedStream) Close() error                              { return nil }
