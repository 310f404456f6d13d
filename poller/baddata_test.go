package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/publisher"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

// Bad data never stops the trigger (README "Bad data", issue 9). Each source
// meets, planted among 300 normal users, a 1.5 MB user, every kind of
// unusable user, a created_at in 2099, and (events) a 17 MiB stream message
// plus one over the client's bound, or (search) a page over 16 MiB. Every
// normal user must be published exactly once, none waiting behind the bad
// ones; the unusable ones are dead-lettered once; no cursor moves past the
// worker's clock. On the code before the issue each of these stopped the
// source for good.

// badLimit is the client's response and SSE message bound in the events
// test: below 40 MiB so the oversized message costs less memory, above
// 17 MiB so the 17 MiB message is read whole.
const badLimit = 18 << 20

// plantedUser is one planted user and what must become of it.
type plantedUser struct {
	fu     emulator.FaultUser
	reason string // Dlq-Reason expected; "" = published
	trunc  bool   // published truncated
}

// unusableUsers are the kinds of users dead-lettered as unusable (README "Bad data").
func unusableUsers(tag string) []plantedUser {
	fu := func(name string, set map[string]json.RawMessage, unset ...string) emulator.FaultUser {
		return emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: "auth0|" + tag + name, Email: tag + name + "@example.com"}, Set: set, Unset: unset}
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return []plantedUser{
		{fu: fu("numcreated", map[string]json.RawMessage{"created_at": raw(`1700000000`)}), reason: auth0.ReasonBadCreatedAt},
		{fu: fu("notadate", map[string]json.RawMessage{"created_at": raw(`"not-a-date"`)}), reason: auth0.ReasonBadCreatedAt},
		{fu: fu("noid", nil, "user_id"), reason: auth0.ReasonNoUserID},
		{fu: fu("numid", map[string]json.RawMessage{"user_id": raw(`12345`)}), reason: auth0.ReasonBadUserID},
		{fu: fu("ctrlid", map[string]json.RawMessage{"user_id": raw(`"auth0|a\u0007b"`)}), reason: auth0.ReasonBadUserID},
		{fu: fu("arrayemail", map[string]json.RawMessage{"email": raw(`["x@example.com"]`)}), reason: auth0.ReasonBadEmail},
	}
}

func bigUser(tag string, i int) plantedUser {
	return plantedUser{fu: emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: fmt.Sprintf("auth0|%sbig%02d", tag, i), Email: fmt.Sprintf("%sbig%d@example.com", tag, i)}, Pad: 1_500_000}, trunc: true}
}

// badDataRun plants six groups of 50 normal users, each group followed by
// one chunk of the bad ones, and returns the normal users' ids with when
// each was created. Every user gets the emulator's clock as created_at (as
// on a real tenant) unless its chunk entry says otherwise.
func badDataRun(t *testing.T, r *rig, tag string, chunks [][]plantedUser) (normal []string, createdAt map[string]time.Time) {
	t.Helper()
	e := r.srv.Emulator
	createdAt = map[string]time.Time{}
	for g := 0; g < 6; g++ {
		us := make([]emulator.SeedUser, 50)
		for i := range us {
			n := g*50 + i
			us[i] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|%snormal%04d", tag, n), Email: fmt.Sprintf("%sn%d@example.com", tag, n)}
		}
		ids, err := e.CreateUsers(us)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for _, id := range ids {
			normal = append(normal, id)
			createdAt[id] = now
		}
		if g >= len(chunks) {
			continue
		}
		for _, b := range chunks[g] {
			if _, err := e.CreateFaultUsers([]emulator.FaultUser{b.fu}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return normal, createdAt
}

// deadLetters reads every message of AUTH0_DLQ.
func (r *rig) deadLetters(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := ctxT(t)
	s, err := r.js.Stream(ctx, publisher.NamesFor("auth0").DLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

// storedEvent finds the stored event with this Nats-Msg-Id.
func (r *rig) storedEvent(t *testing.T, id string) map[string]any {
	t.Helper()
	ctx := ctxT(t)
	info, err := r.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := r.stream.GetMsg(ctx, seq)
		if err != nil || m.Header.Get(jetstream.MsgIDHeader) != id {
			continue
		}
		schemacheck.CheckEvent(t, m.Data)
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
		return ev
	}
	t.Fatalf("event %s not in the stream", id)
	return nil
}

// checkBadData is what both sources must show once everything is in.
func checkBadData(t *testing.T, r *rig, source string, normal []string, createdAt map[string]time.Time, chunks [][]plantedUser, extraDLQ int) {
	t.Helper()
	bad := slices.Concat(chunks...)
	want := slices.Clone(normal)
	var reasons = map[string]int{}
	for _, b := range bad {
		if b.reason == "" {
			want = append(want, b.fu.UserID)
		} else {
			reasons[b.reason]++
		}
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		stored := r.storedUsers()
		var missing []string
		for _, id := range want {
			if stored[id] == 0 {
				missing = append(missing, id)
			}
		}
		t.Logf("%d users never stored: %v", len(missing), missing[:min(len(missing), 10)])
	})
	r.expectExactlyOnce(want, 120*time.Second)

	// None of the normal users waited behind the bad ones.
	var lat []time.Duration
	r.mu.Lock()
	for _, id := range normal {
		for ev, at := range r.seenAt {
			if strings.HasPrefix(ev, id+"@") {
				lat = append(lat, at.Sub(createdAt[id]))
			}
		}
	}
	r.mu.Unlock()
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("%s source: creation → stored for %d normal users among the bad ones: p50 %v p99 %v max %v", source, len(lat), lat[len(lat)/2], p99, lat[len(lat)-1])
	if p99 > 30*time.Second {
		t.Fatalf("p99 %v: normal users waited behind the bad ones", p99)
	}

	// Truncated: data reduced, auth0truncated true.
	for _, b := range bad {
		if !b.trunc {
			continue
		}
		js, _ := r.srv.Emulator.UserJSON(b.fu.UserID)
		var u struct {
			CreatedAt string `json:"created_at"`
		}
		_ = json.Unmarshal(js, &u)
		ev := r.storedEvent(t, b.fu.UserID+"@"+u.CreatedAt)
		data, _ := ev["data"].(map[string]any)
		if ev["auth0truncated"] != true || data["user_id"] != b.fu.UserID || data["created_at"] != u.CreatedAt || data["updated_at"] == nil || data["email"] != b.fu.Email || data["user_metadata"] != nil {
			t.Fatalf("truncated event of %s: auth0truncated %v, data members %v", b.fu.UserID, ev["auth0truncated"], slices.Sorted(maps.Keys(data)))
		}
	}

	// Dead letters: one per unusable user, with reason and source.
	dls := r.deadLetters(t)
	got := map[string]int{}
	for _, m := range dls {
		reason := m.Header.Get(publisher.HeaderDlqReason)
		got[reason]++
		if m.Subject != "auth0.dlq.users.invalid" || m.Header.Get(publisher.HeaderDlqSource) != source {
			t.Fatalf("dead letter on %s, source %q", m.Subject, m.Header.Get(publisher.HeaderDlqSource))
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		if !strings.HasPrefix(id, "invalid@") {
			t.Fatalf("dead letter id %q", id)
		}
		if reason == publisher.ReasonSSEMessageTooLarge {
			if len(m.Data) != 0 || m.Header.Get(publisher.HeaderDlqOffset) == "" {
				t.Fatalf("oversized message dead letter: %d bytes, offset %q", len(m.Data), m.Header.Get(publisher.HeaderDlqOffset))
			}
			continue
		}
		if !json.Valid(m.Data) || m.Header.Get(publisher.HeaderDlqDetail) == "" {
			t.Fatalf("dead letter %s: body %.80q, detail %q", id, m.Data, m.Header.Get(publisher.HeaderDlqDetail))
		}
	}
	for reason, n := range reasons {
		if got[reason] != n {
			t.Fatalf("dead letters by reason %v, want %v (+%d oversized)", got, reasons, extraDLQ)
		}
	}
	if len(dls) != len(bad)-countPublished(bad)+extraDLQ {
		t.Fatalf("%d dead letters, want %d", len(dls), len(bad)-countPublished(bad)+extraDLQ)
	}
	if !slices.Contains(mapKeys(got), auth0.ReasonNoUserID) {
		t.Fatal("no dead letter without a user_id")
	}
	for _, m := range dls {
		if m.Header.Get(publisher.HeaderDlqReason) == auth0.ReasonNoUserID && len(m.Header.Get(jetstream.MsgIDHeader)) != len("invalid@")+64 {
			t.Fatalf("a user without user_id is keyed by a SHA-256: %q", m.Header.Get(jetstream.MsgIDHeader))
		}
		if m.Header.Get(publisher.HeaderDlqReason) == auth0.ReasonBadCreatedAt && strings.Contains(string(m.Data), "not-a-date") && !strings.HasSuffix(m.Header.Get(jetstream.MsgIDHeader), "@not-a-date") {
			t.Fatalf("created_at as given belongs in the id: %q", m.Header.Get(jetstream.MsgIDHeader))
		}
	}
}

func countPublished(bad []plantedUser) int {
	n := 0
	for _, b := range bad {
		if b.reason == "" {
			n++
		}
	}
	return n
}

func mapKeys(m map[string]int) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

// newBadRig runs NATS with its default 1 MB max payload (the shared test
// server allows 8 MB), as most deployments do.
func newBadRig(t *testing.T, knobs emulator.Knobs) *rig {
	return newRigNATS(t, true, testredis.Options{}, []testnats.Option{func(o *server.Options) { o.MaxPayload = 1 << 20 }}, knobs)
}

// badClient reads responses and SSE messages up to limit (0 = the default
// 40 MiB).
func badClient(t *testing.T, r *rig, limit int) *auth0.Client {
	c, err := auth0.New(auth0.Config{BaseURL: r.srv.URL, ClientID: r.srv.ClientID, ClientSecret: r.srv.ClientSecret, MaxResponseBytes: limit, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBadDataEventsSource(t *testing.T) {
	r := newBadRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	c := badClient(t, r, badLimit)
	p, m := r.poller(Options{Source: SourceEvents, Searcher: c, Events: c}, "")
	p.log = discardLogger()
	runPoller(t, p)

	future := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	un := unusableUsers("ev")
	oversized := plantedUser{fu: emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: "auth0|evoversized", Email: "evoversized@example.com"}, EventPad: badLimit + 1<<20}, reason: publisher.ReasonSSEMessageTooLarge}
	// Each chunk is followed by at least one group of 50 normal users.
	chunks := [][]plantedUser{un[:3], append(un[3:], oversized), {bigUser("ev", 0)},
		{{fu: emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: "auth0|evfuture", Email: "evfuture@example.com", CreatedAt: future}}}},
		{{fu: emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: "auth0|evhuge", Email: "evhuge@example.com"}, EventPad: 17 << 20}}},
	}
	normal, created := badDataRun(t, r, "ev", chunks)
	checkBadData(t, r, SourceEvents, normal, created, chunks, 0)
	if n := value(m.EventsTruncated); n != 1 {
		t.Fatalf("events_truncated_total %v, want 1", n)
	}
	if n := value(m.UsersInvalid.WithLabelValues(publisher.ReasonSSEMessageTooLarge)); n != 1 {
		t.Fatalf("users_invalid_total{sse_message_too_large} %v, want 1", n)
	}
	if n := value(m.UsersInvalid.WithLabelValues(auth0.ReasonBadCreatedAt)); n != 2 {
		t.Fatalf("users_invalid_total{bad_created_at} %v, want 2", n)
	}
	// The resume point is the source's own, its time never past the clock.
	var cur eventsCursor
	testwait.For(t, 10*time.Second, "cursor:events saved with a time", func() bool {
		v, _ := r.rs.Client(t).Get(context.Background(), r.keys.CursorEvents()).Result()
		return json.Unmarshal([]byte(v), &cur) == nil && cur.Offset != "" && cur.Time != ""
	})
	if cur.time().After(time.Now()) {
		t.Fatalf("cursor:events time %s lies in the future", cur.Time)
	}
}

func TestBadDataSearchSource(t *testing.T) {
	r := newBadRig(t, emulator.Knobs{})
	c := badClient(t, r, 0)
	p, m := r.poller(Options{Source: SourceSearch, Searcher: c, Interval: 200 * time.Millisecond, Overlap: 5 * time.Second}, "")
	p.log = discardLogger()
	runPoller(t, p)

	future := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	un := unusableUsers("se")
	// A page over 16 MiB: twelve 1.5 MB users next to each other (18 MB),
	// read whole in one request (before, the client cut it at 16 MiB).
	var bigs []plantedUser
	for i := range 12 {
		bigs = append(bigs, bigUser("se", i))
	}
	chunks := [][]plantedUser{un[:3], un[3:], {{fu: emulator.FaultUser{SeedUser: emulator.SeedUser{UserID: "auth0|sefuture", Email: "sefuture@example.com", CreatedAt: future}}}}, bigs}
	normal, created := badDataRun(t, r, "se", chunks)
	checkBadData(t, r, SourceSearch, normal, created, chunks, 0)
	if n := value(m.EventsTruncated); n != 12 {
		t.Fatalf("events_truncated_total %v, want 12", n)
	}
	// Once per DEDUPE_TTL: later cycles read the bad users again and
	// dead-letter nothing more; the 2099 user does not pin the cursor.
	cycles := value(m.PollCycles.WithLabelValues(SourceSearch, "ok"))
	testwait.For(t, 30*time.Second, "three more search cycles", func() bool {
		return value(m.PollCycles.WithLabelValues(SourceSearch, "ok")) >= cycles+3
	})
	if n := len(r.deadLetters(t)); n != 6 {
		t.Fatalf("%d dead letters after more cycles, want 6", n)
	}
	v, _ := r.rs.Client(t).Get(context.Background(), r.keys.CursorSearch()).Result()
	var cur searchCursor
	if err := json.Unmarshal([]byte(v), &cur); err != nil || cur.time().After(time.Now()) || cur.time().IsZero() {
		t.Fatalf("search cursor %s: not past the worker's clock (err %v)", v, err)
	}
	if split := splitSearches(r.srv.Emulator.Requests()); split != 0 {
		t.Fatalf("%d searches with a smaller per_page: the page over 16 MiB was not read whole", split)
	}
}

// splitSearches counts searches with per_page below 100.
func splitSearches(reqs []emulator.LoggedRequest) int {
	n := 0
	for _, q := range reqs {
		if q.Path == "/api/v2/users" && !strings.Contains(q.Query, "per_page=100") {
			n++
		}
	}
	return n
}

// TestEventsRestartPastForeignMessages: anyone with publish rights can put
// a message on <prefix>.users.created. With cursor:events missing (a worker
// from before it kept one, or an operator who deleted it), the events
// source falls back to the stream's tail and skips what is not its own
// CloudEvent. Before, it could not start again ("no CloudEvent time").
func TestEventsRestartPastForeignMessages(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond})
	e := r.srv.Emulator
	p, _ := r.poller(Options{Source: SourceEvents}, "")
	p.log = discardLogger()
	cancel, done := runPoller(t, p)
	first := seed(t, e, "fa", 5, nil, false)
	r.expectExactlyOnce(first, 30*time.Second)
	cancel()
	done <- <-done // stopped; the value stays for runPoller's cleanup

	ctx := ctxT(t)
	for _, body := range []string{`not JSON at all`, `{"specversion":"1.0","type":"com.example.other","source":"urn:x","time":"2099-01-01T00:00:00Z"}`, `{"time":12}`} {
		if _, err := r.js.Publish(ctx, "auth0.users.created", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.rs.Client(t).Del(ctx, r.keys.CursorEvents()).Err(); err != nil {
		t.Fatal(err)
	}
	last, ok, err := r.raw.LastCreatedAt(ctx)
	if err != nil || !ok {
		t.Fatalf("stream tail behind foreign messages: %q %v %v", last, ok, err)
	}
	p2, m2 := r.poller(Options{Source: SourceEvents}, "")
	p2.log = discardLogger()
	cancel2, done2 := runPoller(t, p2)
	second := seed(t, e, "fb", 5, nil, false)
	r.expectExactlyOnce(append(first, second...), 30*time.Second)
	if n := value(m2.PollCycles.WithLabelValues(SourceEvents, "connected")); n < 1 {
		t.Fatalf("events source never connected after the restart")
	}
	cancel2()
	done2 <- <-done2
}

// No from_timestamp past the worker's clock (README "Bad data"): neither a 2099
// time in cursor:events nor one at the stream's tail moves the resume
// point past now − POLL_OVERLAP.
func TestEventsResumePointNeverPastClock(t *testing.T) {
	rs := testredis.Start(t)
	future := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []string{"stream tail", "cursor:events"} {
		t.Run(tc, func(t *testing.T) {
			pub := newFakePublisher()
			pub.last = future
			p := unitPoller(t, rs, Options{Source: SourceEvents, Events: (*auth0.Client)(nil), Publisher: pub, Dedupe: newMemDedupe(), ReconcileOff: true, Overlap: time.Minute})
			if tc == "cursor:events" {
				pub.last = time.Time{}
				if err := rs.Client(t).Set(context.Background(), p.opts.Keys.CursorEvents(), `{"offset":"","time":"2099-01-02T03:04:05.000Z"}`, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			s := newEventsSource(p.pullDeps())
			if err := s.prepare(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			if now := time.Now(); s.from.After(now.Add(-time.Minute)) || s.from.Before(now.Add(-2*time.Minute)) {
				t.Fatalf("from_timestamp %v, want now − overlap (now %v)", s.from, now)
			}
		})
	}
}

// A user that decodes but cannot become an event even truncated (here a
// user_id of over a megabyte) is dead-lettered as "unpublishable" in its
// batch, once, and the user after it is published.
func TestPipelineUnpublishableUserDeadLettered(t *testing.T) {
	r := newBadRig(t, emulator.Knobs{})
	pl := &pipeline{pub: r.pub, dd: r.dd, m: nil, log: discardLogger()}
	huge := auth0.DecodeUser([]byte(`{"user_id":"auth0|` + strings.Repeat("x", 1_100_000) + `","created_at":"2026-01-02T03:04:05.000Z"}`))
	next := auth0.DecodeUser([]byte(`{"user_id":"auth0|next","created_at":"2026-01-02T03:04:05.001Z"}`))
	if huge.Problem != nil || next.Problem != nil {
		t.Fatalf("decoding: %v %v", huge.Problem, next.Problem)
	}
	for round := range 2 {
		res, err := pl.process(ctxT(t), SourceSearch, []auth0.User{huge, next}, 0)
		if err != nil || res.done != 2 || res.published != 1-round {
			t.Fatalf("round %d: done %d published %d err %v", round, res.done, res.published, err)
		}
	}
	dls := r.deadLetters(t)
	if len(dls) != 1 || dls[0].Header.Get(publisher.HeaderDlqReason) != reasonUnpublishable || len(dls[0].Header.Get(jetstream.MsgIDHeader)) != len("invalid@")+64 || len(dls[0].Data) > 1<<20 {
		t.Fatalf("%d dead letters: %v", len(dls), dls[0].Header)
	}
}
