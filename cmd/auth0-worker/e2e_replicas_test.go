package main

import (
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// TestE2ETwoReplicasOneActivePollerAndTakeover: two worker processes on one tenant, each with its
// own client id so the emulator's request log tells them apart. Exactly
// once; the search poller requests come from one replica at a time; after a
// SIGKILL of the leader the other one polls within 1.5 × LEASE_TTL.
func TestE2ETwoReplicasOneActivePollerAndTakeover(t *testing.T) {
	const leaseTTL = 2 * time.Second // the absolute margin to 1.5 × TTL absorbs a loaded CI machine
	clients := []emulator.ClientCredentials{{ID: "replica-a", Secret: "secret-a"}, {ID: "replica-b", Secret: "secret-b"}}
	r := newE2ERig(t, emulator.Config{Clients: clients, Knobs: emulator.Knobs{IndexLagMax: 500 * time.Millisecond}})
	startAt := "POLL_START=" + time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	procs := map[string]*testkit.Worker{}
	for _, c := range clients {
		procs[c.ID] = r.start(r.env(c.ID, c.Secret, "POLL_SOURCE=search", "POLL_INTERVAL=100ms", "POLL_OVERLAP=5s",
			"LEASE_TTL="+leaseTTL.String(), startAt))
	}
	var leader, follower string
	testwait.For(t, 10*time.Second, "one replica to lead", func() bool {
		a, b := procs["replica-a"].IsLeader(), procs["replica-b"].IsLeader()
		switch {
		case a && b:
			t.Fatalf("both replicas report auth0_worker_leader 1")
		case a:
			leader, follower = "replica-a", "replica-b"
		case b:
			leader, follower = "replica-b", "replica-a"
		}
		return leader != ""
	})
	t.Logf("leader %s, follower %s", leader, follower)

	start := time.Now()
	c := testkit.CreateUsers(t, r.emu.Emulator, "replicas", 300, 3*time.Second)
	<-time.After(time.Until(start.Add(1500 * time.Millisecond))) // mid-run
	if procs[follower].IsLeader() {
		t.Fatalf("the follower %s leads while %s is alive", follower, leader)
	}
	killAt := time.Now()
	procs[leader].Kill(t)
	testwait.For(t, 3*leaseTTL, "the follower's leader gauge", func() bool { return procs[follower].IsLeader() })
	ids := c.Wait()
	testkit.UsersExactlyOnce(t, r.js, ids, 20*time.Second)

	// The poller's requests, in arrival order: GET /api/v2/users with a
	// created_at window.
	type pollReq struct {
		at     time.Time
		client string
	}
	var polls []pollReq
	for _, q := range r.emu.Emulator.Requests() {
		if q.Method != "GET" || q.Path != "/api/v2/users" {
			continue
		}
		v, _ := url.ParseQuery(q.Query)
		if !strings.HasPrefix(v.Get("q"), "created_at:") {
			continue
		}
		polls = append(polls, pollReq{q.Time, q.ClientID})
	}
	sort.SliceStable(polls, func(i, j int) bool { return polls[i].at.Before(polls[j].at) })
	switches := 0
	var firstFollower time.Time
	for i, p := range polls {
		if i > 0 && p.client != polls[i-1].client {
			switches++
		}
		switch p.client {
		case follower:
			if p.at.Before(killAt) {
				t.Errorf("follower %s polled at %v, before the leader was killed at %v", follower, p.at.Format(time.StampMilli), killAt.Format(time.StampMilli))
			}
			if firstFollower.IsZero() {
				firstFollower = p.at
			}
		case leader:
			if p.at.After(killAt) {
				t.Errorf("killed leader %s polled at %v, after its kill at %v", leader, p.at.Format(time.StampMilli), killAt.Format(time.StampMilli))
			}
		default:
			t.Errorf("poll request from unknown client %q", p.client)
		}
	}
	if switches != 1 {
		t.Errorf("the poller requests switch between the replicas %d times, want exactly once (at the takeover)", switches)
	}
	if firstFollower.IsZero() {
		t.Fatalf("the follower never polled after the leader's kill")
	}
	takeover := firstFollower.Sub(killAt)
	t.Logf("%d poll requests; takeover after %v (LEASE_TTL %v)", len(polls), takeover.Round(time.Millisecond), leaseTTL)
	if limit := leaseTTL * 3 / 2; takeover > limit {
		t.Errorf("the follower's first poll came %v after the kill, want within 1.5 × LEASE_TTL = %v", takeover, limit)
	}
}
