package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Benchmarks of the trigger (BENCHMARKS.md "Trigger"). Each reports custom
// metrics; run with -benchtime=Nx (see BENCHMARKS.md).

const benchUsers = 5000

// BenchmarkTriggerEventsThroughput: users/s from the emulator (SSE) through
// dedupe and JetStream into the stream, beside a raw baseline of JetStream
// async publishes of the same messages (same ids, bodies, headers, stream
// settings, in-flight bound) in the same run, rounds interleaved. Two Redis
// settings: fsync=always is how internal/testredis runs redis-server (every
// write fsync'ed before its reply); fsync=everysec is Redis's own default
// (a crash of the Redis host may lose the last second of marks: absorbed by
// Nats-Msg-Id within the stream's duplicate window).
func BenchmarkTriggerEventsThroughput(b *testing.B) {
	for _, fsync := range []string{"always", "everysec"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			r := newRigWatch(b, false, testredis.Options{ExtraArgs: []string{"--appendfsync", fsync}},
				emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
			if got, err := r.rs.Client(b).ConfigGet(context.Background(), "appendfsync").Result(); err != nil || got["appendfsync"] != fsync {
				b.Fatalf("redis-server appendfsync %v (%v), want %s", got, err, fsync)
			}
			benchThroughput(b, r)
		})
	}
}

func benchThroughput(b *testing.B, r *rig) {
	var pipe, raw, startup time.Duration
	users := 0
	for i := 0; i < b.N; i++ {
		// The users and their events exist before the poller starts (its
		// from_timestamp is its creation time), so creation cost is not
		// counted: only emulator SSE → client → dedupe → JetStream, from
		// Run (lease, token, connect included) to the last message stored.
		// Each round must read exactly its own 5,000 events, like the
		// baseline publishes exactly them. A fresh poller with no offset
		// starts at the stream's newest created_at minus POLL_OVERLAP when
		// the stream has events (crash safety), which would re-read and
		// dedupe every earlier round: empty the stream first. Without events
		// it starts at its creation time truncated to whole seconds
		// (from_timestamp's rule): start each round in a new second too.
		if err := r.stream.Purge(context.Background()); err != nil {
			b.Fatal(err)
		}
		info, err := r.stream.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		seqBase := info.State.LastSeq
		if i > 0 {
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		}
		keys := r.keys
		keys.Prefix = fmt.Sprintf("bench%d", i)
		p, _ := r.poller(Options{Source: SourceEvents, Keys: keys}, "")
		p.log = discardLogger()
		ids := seed(b, r.srv.Emulator, fmt.Sprintf("tp%d-", i), benchUsers, nil, false)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- p.Run(ctx) }()
		// The stream's own time of its last message ends the run, so how
		// often this loop polls does not count.
		last := r.waitStreamMsgs(uint64(len(ids)), time.Minute)
		pipe += last.Sub(start)
		first, err := r.stream.GetMsg(context.Background(), seqBase+1)
		if err != nil {
			b.Fatal(err)
		}
		startup += first.Time.Sub(start)
		cancel()
		<-done
		users += len(ids)
		raw += rawBaseline(b, r, ids, i)
	}
	b.ReportMetric(float64(users)/pipe.Seconds(), "users/s")
	b.ReportMetric(float64(users)/raw.Seconds(), "baseline_msgs/s")
	b.ReportMetric(100*raw.Seconds()/pipe.Seconds(), "%_of_baseline")
	// Included in users/s: Run → the first user stored (lease, start point,
	// token, connect, first batch).
	b.ReportMetric(float64(startup.Milliseconds())/float64(b.N), "first_stored_ms")
}

// rawBaseline publishes the envelopes of ids with bare JetStream async
// publishes to a stream of its own (AUTH0_USERS's settings, another name and
// subject) and returns the time from the first publish to the last ack. The
// JetStream context is the pipeline's: the same bound of 256 pending acks.
func rawBaseline(b *testing.B, r *rig, ids []string, round int) time.Duration {
	ctx := context.Background()
	names := publisher.NamesFor(fmt.Sprintf("baseline%d", round))
	if _, err := r.js.CreateStream(ctx, names.UsersStream(publisher.StreamOptions{})); err != nil {
		b.Fatal(err)
	}
	msgs := make([]*nats.Msg, len(ids))
	for i, id := range ids {
		raw, ok := r.srv.Emulator.UserJSON(id)
		if !ok {
			b.Fatalf("user %s gone", id)
		}
		var u auth0.User
		if err := json.Unmarshal(raw, &u); err != nil {
			b.Fatal(err)
		}
		u.Raw = raw
		evID, body, err := r.raw.Envelope(u)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = &nats.Msg{Subject: names.UserCreatedSubject(), Data: body,
			Header: nats.Header{jetstream.MsgIDHeader: []string{evID}, "Content-Type": []string{publisher.ContentType}}}
	}
	start := time.Now()
	for _, m := range msgs {
		for {
			_, err := r.js.PublishMsgAsync(m)
			if err == nil {
				break
			}
			// 256 pending for longer than the context's stall wait: wait
			// for acks and go on (the publisher waits on its own slots).
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("baseline: acks did not arrive")
	}
	d := time.Since(start)
	info, err := r.js.Stream(ctx, names.Users)
	if err != nil {
		b.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != uint64(len(ids)) {
		b.Fatalf("baseline stream holds %d messages, want %d", n, len(ids))
	}
	return d
}

// BenchmarkTriggerEventsLatency: creation → stored in the stream, p50 and
// p99, for users created one every 5 ms.
func BenchmarkTriggerEventsLatency(b *testing.B) {
	r := newRig(b, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	p, _ := r.poller(Options{Source: SourceEvents}, "")
	p.log = discardLogger()
	runPoller(b, p)
	testwait.For(b, 5*time.Second, "events stream connected", func() bool {
		off, _ := r.rs.Client(b).Get(context.Background(), r.keys.CursorEvents()).Result()
		return off != ""
	})
	const n = 300
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		created := map[string]time.Time{}
		var ids []string
		for j := 0; j < n; j++ {
			at := time.Now()
			id := fmt.Sprintf("auth0|lat%d-%04d", i, j)
			if _, err := r.srv.Emulator.CreateUsers([]emulator.SeedUser{{UserID: id, CreatedAt: at}}); err != nil {
				b.Fatal(err)
			}
			created[id+"@"+formatCreatedAt(at)] = at
			ids = append(ids, id)
			time.Sleep(5 * time.Millisecond) // creation pace
		}
		r.expectExactlyOnce(ids, 30*time.Second)
		r.mu.Lock()
		for evID, at := range created {
			seen, ok := r.seenAt[evID]
			if !ok {
				r.mu.Unlock()
				b.Fatalf("event %s not seen in the stream under that id", evID)
			}
			lat = append(lat, seen.Sub(at))
		}
		r.mu.Unlock()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

// benchSearchLimit is POLL_LIMIT for BenchmarkTriggerSearchRequests
// (BENCH_POLL_LIMIT, default 1000 like POLL_LIMIT).
var benchSearchLimit = func() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_POLL_LIMIT")); err == nil && n > 0 {
		return n
	}
	return 1000
}()

// BenchmarkTriggerSearchRequests: Auth0 requests per 1,000 users for the
// search source reading a large backlog (POLL_START=all, default POLL_LIMIT
// 1000 and POLL_OVERLAP 2m, 5,000 users spread over an hour, 300 of them
// sharing one millisecond), paging past the 1000 cap by window restarts.
func BenchmarkTriggerSearchRequests(b *testing.B) {
	var reqs, users int
	for i := 0; i < b.N; i++ {
		r := newRig(b, emulator.Knobs{})
		base := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
		ids := seed(b, r.srv.Emulator, "sr", benchUsers, func(j int) time.Time {
			if j < 300 {
				return base
			}
			return base.Add(time.Duration(j) * 720 * time.Millisecond)
		}, true)
		p, _ := r.poller(Options{Source: SourceSearch, Start: pollstart.Start{Mode: pollstart.All}, Interval: 50 * time.Millisecond, Limit: benchSearchLimit}, "")
		p.log = discardLogger()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		r.expectExactlyOnce(ids, time.Minute)
		cancel()
		<-done
		n, searches := pastCap(r.srv.Emulator.Requests())
		if n != 0 {
			b.Fatalf("%d searches past the cap", n)
		}
		reqs += searches
		users += len(ids)
	}
	b.ReportMetric(1000*float64(reqs)/float64(users), "requests/1000users")
}
