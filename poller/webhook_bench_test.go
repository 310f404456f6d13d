package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Benchmarks of the Event Streams receiver (BENCHMARKS.md "Receiver").

// hookBodies are user.updated deliveries, one per seeded user, as Auth0
// posts them (the user object as the emulator holds it).
func hookBodies(b *testing.B, r *rig, ids []string, round int) [][]byte {
	bodies := make([][]byte, len(ids))
	for i, id := range ids {
		obj, ok := r.srv.Emulator.UserJSON(id)
		if !ok {
			b.Fatalf("user %s gone", id)
		}
		var u map[string]any
		if err := json.Unmarshal(obj, &u); err != nil {
			b.Fatal(err)
		}
		ua := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(round)*time.Hour + time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		u["updated_at"] = ua
		bodies[i], _ = json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("evt_%d_%d", round, i), "source": "urn:auth0:t", "type": "user.updated", "time": ua, "data": map[string]any{"object": u}})
	}
	return bodies
}

func postBody(c *http.Client, url string, body []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+hookToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// benchSenders is how many deliveries are in flight at once
// (BENCH_SENDERS, default 64).
var benchSenders = func() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_SENDERS")); err == nil && n > 0 {
		return n
	}
	return 64
}()

// BenchmarkReceiverThroughput: webhook requests/s (one event each, as Auth0
// sends them, from BENCH_SENDERS concurrent senders) until every event is stored and
// marked seen — each 204 means that — beside the raw JetStream baseline
// (async publishes of the same number of envelopes of the same users, the
// pipeline's in-flight bound) in the same run. Two Redis settings, as the
// trigger benchmark: fsync=always (internal/testredis's default) and
// fsync=everysec (Redis's default). ceiling: the same senders against an
// HTTP handler that reads the body and answers 204 at once — what the
// sender side can deliver at most.
func BenchmarkReceiverThroughput(b *testing.B) {
	for _, fsync := range []string{"always", "everysec"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			r := newRigWatch(b, false, testredis.Options{ExtraArgs: []string{"--appendfsync", fsync}}, emulator.Knobs{})
			if got, err := r.rs.Client(b).ConfigGet(context.Background(), "appendfsync").Result(); err != nil || got["appendfsync"] != fsync {
				b.Fatalf("redis-server appendfsync %v (%v), want %s", got, err, fsync)
			}
			url, _ := r.startReceiver(b, WebhookOptions{MaxConcurrent: benchSenders})
			benchReceiver(b, r, url)
		})
	}
	b.Run("ceiling", func(b *testing.B) {
		r := newRigWatch(b, false, testredis.Options{}, emulator.Knobs{})
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusNoContent)
		}))
		// Connections opened: the senders keep theirs alive (at most one
		// per sender), so the ceiling is not a TCP handshake rate.
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		b.Cleanup(srv.Close)
		benchReceiver(b, r, srv.URL+WebhookPath)
		b.ReportMetric(float64(conns.Load()), "conns")
	})
}

func benchReceiver(b *testing.B, r *rig, url string) {
	const n = 2000
	senders := benchSenders
	ids := seed(b, r.srv.Emulator, "rcv", n, nil, true)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	var hook, raw time.Duration
	var bodyBytes int
	for i := 0; i < b.N; i++ {
		bodies := hookBodies(b, r, ids, i)
		for _, body := range bodies {
			bodyBytes += len(body)
		}
		work := make(chan []byte, len(bodies))
		for _, body := range bodies {
			work <- body
		}
		close(work)
		var wg sync.WaitGroup
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range work {
					if code, err := postBody(c, url, body); err != nil || code != 204 {
						b.Errorf("POST: %d %v", code, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		hook += time.Since(start)
		raw += rawBaseline(b, r, ids, i)
	}
	b.ReportMetric(float64(n*b.N)/hook.Seconds(), "requests/s")
	b.ReportMetric(float64(n*b.N)/raw.Seconds(), "baseline_msgs/s")
	b.ReportMetric(100*raw.Seconds()/hook.Seconds(), "%_of_baseline")
	// Fairness: what each side stores per message (the stream's bytes,
	// headers included), beside the size of one POST body.
	b.ReportMetric(float64(bodyBytes)/float64(n*b.N), "post_body_B")
	b.ReportMetric(storedBytes(b, r, r.stream.CachedInfo().Config.Name), "stored_B/msg")
	b.ReportMetric(storedBytes(b, r, publisher.NamesFor("baseline0").Users), "baseline_stored_B/msg")
}

// storedBytes is the average stored size of a message of stream name (0
// when empty).
func storedBytes(b *testing.B, r *rig, name string) float64 {
	s, err := r.js.Stream(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return 0
	}
	return float64(st.Bytes) / float64(st.Msgs)
}

// BenchmarkReceiverLatency: from the start of the POST to the event stored
// in the stream (the stream's own message time), one delivery every 5 ms,
// p50 and p99; beside the p50 of a bare synchronous JetStream publish-ack of
// the same envelope size in the same run.
func BenchmarkReceiverLatency(b *testing.B) {
	r := newRigWatch(b, false, testredis.Options{}, emulator.Knobs{})
	url, _ := r.startReceiver(b, WebhookOptions{})
	const n = 300
	ids := seed(b, r.srv.Emulator, "lat", n, nil, true)
	c := &http.Client{}
	var lat, ack []time.Duration
	ctx := context.Background()
	names := publisher.NamesFor("ackbaseline")
	if _, err := r.js.CreateStream(ctx, names.UsersStream(publisher.StreamOptions{})); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bodies := hookBodies(b, r, ids, 1000+i)
		for j, body := range bodies {
			info, err := r.stream.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sent := time.Now()
			if code, err := postBody(c, url, body); err != nil || code != 204 {
				b.Fatalf("POST: %d %v", code, err)
			}
			m, err := r.stream.GetMsg(ctx, info.State.LastSeq+1)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, m.Time.Sub(sent))
			// The baseline: one synchronous publish of an envelope of this
			// user, to a stream of its own.
			raw, _ := r.srv.Emulator.UserJSON(ids[j])
			var u auth0.User
			_ = json.Unmarshal(raw, &u)
			u.Raw = raw
			id, env, err := r.raw.Envelope(u)
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			if _, err := r.js.PublishMsg(ctx, &nats.Msg{Subject: names.UserCreatedSubject(), Data: env,
				Header: nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("%s#%d", id, i)}}}); err != nil {
				b.Fatal(err)
			}
			ack = append(ack, time.Since(t0))
			time.Sleep(5 * time.Millisecond) // delivery pace
		}
	}
	b.StopTimer()
	pct := func(d []time.Duration, p int) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)*p/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(lat, 50), "p50_ms")
	b.ReportMetric(pct(lat, 99), "p99_ms")
	b.ReportMetric(pct(ack, 50), "baseline_ack_p50_ms")
}
