package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

const lifeCycleToken = "life-cycle-hook-token"

// lifeCycle is what the test did to the tenant: every event id the stream
// must hold once, with its type.
type lifeCycle struct {
	t       *testing.T
	r       *e2eRig
	want    map[string]string // event id → type
	deleted map[string]bool   // user ids deleted (their ids hold deleted_at: read from the stream)
}

func (l *lifeCycle) created(ids []string) {
	for _, id := range ids {
		obj, ok := l.r.emu.Emulator.UserJSON(id)
		if !ok {
			l.t.Fatalf("user %s not in the emulator", id)
		}
		var u struct {
			CreatedAt string `json:"created_at"`
		}
		_ = json.Unmarshal(obj, &u)
		l.want[id+"@"+u.CreatedAt] = "user.created"
	}
}

func (l *lifeCycle) update(id string, n int) {
	obj, err := l.r.emu.Emulator.UpdateUser(id, map[string]any{"user_metadata": map[string]any{"n": n}})
	if err != nil {
		l.t.Fatal(err)
	}
	var u struct {
		UpdatedAt string `json:"updated_at"`
	}
	_ = json.Unmarshal(obj, &u)
	l.want["updated@"+id+"@"+u.UpdatedAt] = "user.updated"
	time.Sleep(2 * time.Millisecond) // distinct updated_at: a distinct update (same millisecond = same version)
}

func (l *lifeCycle) delete(id string) {
	if !l.r.emu.Emulator.DeleteUser(id) {
		l.t.Fatalf("delete %s", id)
	}
	l.deleted[id] = true
}

// TestE2ELifeCycleTwoWorkers: two workers with all three types and a
// receiver each; the emulator streams every event over SSE to the leader
// and, as an Auth0 event stream, POSTs each one to the two receivers in
// turn, with duplicates and out-of-order delivery. ~200 users created,
// ~100 updated (a third of them twice), ~50 deleted: exactly one message
// per created user, per distinct update and per deletion, each with its
// subject, type, id and time. Midway the leader is stopped while the other
// worker's receiver keeps publishing newer events, then restarted: the
// events source resumes from its own cursor; nothing is lost or doubled.
func TestE2ELifeCycleTwoWorkers(t *testing.T) {
	clients := []emulator.ClientCredentials{{ID: "lc-a", Secret: "secret-a"}, {ID: "lc-b", Secret: "secret-b"}}
	r := newE2ERig(t, emulator.Config{Clients: clients})
	addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t)}
	envs := make([][]string, 2)
	procs := make([]*testkit.Worker, 2)
	for i, c := range clients {
		envs[i] = r.env(c.ID, c.Secret, "POLL_SOURCE=events", "RECONCILE_INTERVAL=0", "LEASE_TTL=2s",
			"EVENT_TYPES=user.created,user.updated,user.deleted", "WEBHOOK_ADDR="+addrs[i], "WEBHOOK_BEARER_TOKEN="+lifeCycleToken)
		procs[i] = r.start(envs[i], "poll")
	}
	leader := -1
	testwait.For(t, 15*time.Second, "a leader", func() bool {
		for i, p := range procs {
			if p.IsLeader() {
				leader = i
			}
		}
		return leader >= 0
	})
	est, err := r.emu.Emulator.CreateEventStream(emulator.EventStreamConfig{
		Subscriptions:        []string{"user.created", "user.updated", "user.deleted"},
		WebhookEndpoint:      "http://" + addrs[0] + "/auth0/events",
		WebhookEndpoints:     []string{"http://" + addrs[1] + "/auth0/events"},
		WebhookAuthorization: emulator.WebhookAuthorization{Method: "bearer", Token: lifeCycleToken},
		Delivery:             emulator.DeliveryKnobs{DuplicateEvery: 4, ReorderWindow: 8, RetryBase: 100 * time.Millisecond, RetryMax: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := &lifeCycle{t: t, r: r, want: map[string]string{}, deleted: map[string]bool{}}

	ids := testkit.CreateUsers(t, r.emu.Emulator, "lc", 200, 2*time.Second).Wait()
	l.created(ids)
	for i, id := range ids[:100] {
		l.update(id, 1)
		if i%3 == 0 {
			l.update(id, 2)
		}
	}
	for _, id := range ids[150:] {
		l.delete(id)
	}

	// The leader stops; the other worker's receiver keeps publishing newer
	// events (the emulator retries its failed POSTs to the stopped one on
	// the next endpoint); the leader comes back.
	if code, _ := procs[leader].Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("leader exit code %d", code)
	}
	more := testkit.CreateUsers(t, r.emu.Emulator, "lc-later", 20, time.Second).Wait()
	l.created(more)
	for _, id := range more {
		l.update(id, 3)
	}
	for _, id := range ids[100:110] {
		l.update(id, 4)
	}
	procs[leader] = r.start(envs[leader], "poll")
	for _, id := range more[:10] {
		l.delete(id)
	}

	total := len(l.want) + len(l.deleted)
	testwait.For(t, 90*time.Second, fmt.Sprintf("%d events in AUTH0_USERS", total), func() bool {
		return testkit.Count(r.js, "AUTH0_USERS") >= uint64(total)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if failed, err := r.emu.Emulator.WaitDeliveries(ctx, est); err != nil || failed != 0 {
		t.Fatalf("deliveries: %d failed, %v", failed, err)
	}
	got := map[string]int{}
	deletions := map[string]int{}
	for _, m := range testkit.Msgs(t, r.js, "AUTH0_USERS") {
		id := m.Header.Get(jetstream.MsgIDHeader)
		got[id]++
		var ce struct{ ID, Type, Time, Subject string }
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			t.Fatal(err)
		}
		typ := l.want[id]
		if rest, ok := strings.CutPrefix(id, "deleted@"); ok {
			uid := rest[:strings.LastIndexByte(rest, '@')]
			deletions[uid]++
			if l.deleted[uid] {
				typ = "user.deleted"
			}
		}
		if typ == "" {
			t.Errorf("unexpected event %s", id)
			continue
		}
		uid := strings.TrimPrefix(strings.TrimPrefix(id, "updated@"), "deleted@")
		uid = uid[:strings.LastIndexByte(uid, '@')]
		wantTime := id[strings.LastIndexByte(id, '@')+1:]
		if m.Subject != "auth0.users."+strings.TrimPrefix(typ, "user.") || ce.Type != "com.auth0."+typ || ce.ID != id || ce.Subject != uid || ce.Time != wantTime {
			t.Errorf("event %s on %s: %+v", id, m.Subject, ce)
		}
	}
	for id := range l.want {
		if got[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, got[id])
		}
	}
	for uid := range l.deleted {
		if deletions[uid] != 1 {
			t.Errorf("deletion of %s stored %d times, want once", uid, deletions[uid])
		}
	}
	if n := len(got); n != total {
		t.Fatalf("%d distinct events stored, want %d", n, total)
	}
	dels, _ := r.emu.Emulator.Deliveries(est)
	dups := 0
	byEndpoint := map[string]int{}
	for _, d := range dels {
		if d.Duplicate {
			dups++
		}
		for _, a := range d.Attempts {
			if a.StatusCode/100 == 2 {
				byEndpoint[a.Endpoint]++
			}
		}
	}
	if len(byEndpoint) != 2 {
		t.Fatalf("accepted deliveries by endpoint %v: want both receivers", byEndpoint)
	}
	if dups == 0 {
		t.Fatal("the emulator delivered no duplicates: the scenario tested less than it says")
	}
	t.Logf("%d events, %d deliveries (%d duplicates), accepted per receiver %v", total, len(dels), dups, byEndpoint)
}
