package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

const lifeCycleToken = "life-cycle-hook-token"

// freeAddr is a loopback address free right now (the worker binds it).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// hookEvent is one delivery as an Auth0 event stream makes it.
type hookEvent struct {
	typ, userID, id string
	body            []byte
}

// lifeCycleEvent builds the CloudEvent Auth0 posts for typ about the user
// object obj (the emulator's JSON of the user), with the given updated_at
// (and deleted_at for deletions).
func lifeCycleEvent(t *testing.T, typ string, obj []byte, updatedAt, deletedAt string, n int) hookEvent {
	t.Helper()
	var u map[string]any
	if err := json.Unmarshal(obj, &u); err != nil {
		t.Fatal(err)
	}
	u["updated_at"] = updatedAt
	if deletedAt != "" {
		u["deleted_at"] = deletedAt
	}
	tm := updatedAt
	if typ == "user.created" {
		tm = u["created_at"].(string)
	}
	if deletedAt != "" {
		tm = deletedAt
	}
	ce := map[string]any{"specversion": "1.0", "id": fmt.Sprintf("evt_%d", n), "source": "urn:auth0:tenant", "type": typ, "time": tm,
		"a0tenant": "tenant", "a0stream": "est_test", "data": map[string]any{"object": u}}
	b, _ := json.Marshal(ce)
	uid := u["user_id"].(string)
	id := uid + "@" + u["created_at"].(string)
	switch typ {
	case "user.updated":
		id = "updated@" + uid + "@" + updatedAt
	case "user.deleted":
		id = "deleted@" + uid + "@" + deletedAt
	}
	return hookEvent{typ: typ, userID: uid, id: id, body: b}
}

// deliver posts ev to addr until a 2xx, like Auth0's retries.
func deliver(t *testing.T, addr string, ev hookEvent) {
	t.Helper()
	c := http.Client{Timeout: 20 * time.Second}
	testwait.For(t, 30*time.Second, "a 2xx for "+ev.id, func() bool {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/auth0/events", strings.NewReader(string(ev.body)))
		req.Header.Set("Authorization", "Bearer "+lifeCycleToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2
	})
}

// TestE2ELifeCycleTwoWorkers: two workers with all three types and a
// receiver each; created users reach the leader over SSE and both
// receivers as webhooks; updates (some twice) and deletions arrive as
// webhooks alternating between the receivers, duplicated and out of order.
// Exactly one message per created user, per distinct update and per
// deletion, each with its subject, type, id and time. The leader is then
// stopped while the other receiver publishes newer events, and restarted:
// the events source resumes from its own cursor and nothing is lost or
// doubled.
func TestE2ELifeCycleTwoWorkers(t *testing.T) {
	clients := []emulator.ClientCredentials{{ID: "lc-a", Secret: "secret-a"}, {ID: "lc-b", Secret: "secret-b"}}
	r := newE2ERig(t, emulator.Config{Clients: clients})
	addrs := []string{freeAddr(t), freeAddr(t)}
	envs := make([][]string, 2)
	procs := make([]*workerProcess, 2)
	for i, c := range clients {
		envs[i] = r.env(c.ID, c.Secret, "POLL_SOURCE=events", "RECONCILE_INTERVAL=0", "LEASE_TTL=2s",
			"EVENT_TYPES=user.created,user.updated,user.deleted", "WEBHOOK_ADDR="+addrs[i], "WEBHOOK_BEARER_TOKEN="+lifeCycleToken)
		procs[i] = r.start(envs[i], "poll")
	}
	leader := -1
	testwait.For(t, 15*time.Second, "a leader", func() bool {
		for i, p := range procs {
			if p.isLeader(t) {
				leader = i
			}
		}
		return leader >= 0
	})
	rng := rand.New(rand.NewPCG(12, 12))

	ids := r.createUsers("lc", 200, 2*time.Second).wait()
	base := time.Now().UTC().Truncate(time.Millisecond)
	var events []hookEvent
	want := map[string]hookEvent{}
	n := 0
	add := func(ev hookEvent) {
		events = append(events, ev)
		want[ev.id] = ev
		n++
	}
	for i, id := range ids {
		obj, ok := r.emu.Emulator.UserJSON(id)
		if !ok {
			t.Fatalf("user %s not in the emulator", id)
		}
		if i%4 == 0 { // the created events pushed too: SSE and webhook must dedupe
			add(lifeCycleEvent(t, "user.created", obj, "", "", n))
		}
		if i < 100 {
			add(lifeCycleEvent(t, "user.updated", obj, base.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"), "", n))
			if i%3 == 0 { // updated twice
				add(lifeCycleEvent(t, "user.updated", obj, base.Add(time.Second+time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"), "", n))
			}
		}
		if i >= 150 {
			add(lifeCycleEvent(t, "user.deleted", obj, base.Format("2006-01-02T15:04:05.000Z"), base.Add(2*time.Second).Format("2006-01-02T15:04:05.000Z"), n))
		}
	}
	// Out of order, with one in five delivered twice, alternating receivers.
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for i, ev := range events {
		deliver(t, addrs[i%2], ev)
		if i%5 == 0 {
			deliver(t, addrs[(i+1)%2], ev)
		}
	}
	for _, id := range ids {
		obj, _ := r.emu.Emulator.UserJSON(id)
		var u struct {
			CreatedAt string `json:"created_at"`
		}
		_ = json.Unmarshal(obj, &u)
		if _, ok := want[id+"@"+u.CreatedAt]; !ok {
			want[id+"@"+u.CreatedAt] = hookEvent{typ: "user.created", userID: id, id: id + "@" + u.CreatedAt}
		}
	}

	// The leader stops; the other receiver keeps publishing newer events;
	// more users are created meanwhile; the leader comes back.
	if code, _ := procs[leader].stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("leader exit code %d", code)
	}
	other := 1 - leader
	more := r.createUsers("lc-later", 20, time.Second).wait()
	for i, id := range more {
		obj, _ := r.emu.Emulator.UserJSON(id)
		ev := lifeCycleEvent(t, "user.updated", obj, base.Add(time.Hour+time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z"), "", n)
		add(ev)
		deliver(t, addrs[other], ev)
		var u struct {
			CreatedAt string `json:"created_at"`
		}
		_ = json.Unmarshal(obj, &u)
		want[id+"@"+u.CreatedAt] = hookEvent{typ: "user.created", userID: id, id: id + "@" + u.CreatedAt}
	}
	procs[leader] = r.start(envs[leader], "poll")

	testwait.For(t, 60*time.Second, fmt.Sprintf("%d events in AUTH0_USERS", len(want)), func() bool {
		return r.streamCount("AUTH0_USERS") >= uint64(len(want))
	})
	got := map[string]int{}
	for _, m := range r.streamMsgs("AUTH0_USERS") {
		id := m.Header.Get(jetstream.MsgIDHeader)
		got[id]++
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected event %s", id)
			continue
		}
		var ce struct{ ID, Type, Time, Subject string }
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			t.Fatal(err)
		}
		kind := strings.TrimPrefix(w.typ, "user.")
		wantTime := id[strings.LastIndexByte(id, '@')+1:]
		if m.Subject != "auth0.users."+kind || ce.Type != "com.auth0."+w.typ || ce.ID != id || ce.Subject != w.userID || ce.Time != wantTime {
			t.Errorf("event %s on %s: %+v", id, m.Subject, ce)
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct events stored, want %d", len(got), len(want))
	}
}
