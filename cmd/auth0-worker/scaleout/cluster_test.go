package scaleout

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// TestRedisClusterBackfillCommandsRestart: a Redis Cluster of three masters
// with TLS and an ACL user. Two workers backfill the users that exist
// (POLL_START=all) and publish the ones signed up meanwhile, while
// request-reply creates run with Idempotency-Keys (each sent twice); one
// master is restarted mid-run. Every user is stored exactly once and each
// key made one user, both replies naming it.
func TestRedisClusterBackfillCommandsRestart(t *testing.T) {
	p := testpki.New(t)
	cs := testredis.StartCluster(t, redisTLSACL(p))
	ns := testnats.Start(t)
	emu := emulatortest.NewServer(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond, Latency: 20 * time.Millisecond}})
	existing, err := emu.Emulator.CreateUsers(seedUsers("backfill", 300))
	if err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(emu, "NATS_URL="+ns.URL(), "POLL_START=all", "REDIS_CLUSTER_ADDRS="+strings.Join(cs.Addrs(), ",")), redisAuthEnv(p)...)
	dir := t.TempDir()
	workers := []*testkit.Worker{testkit.Start(t, dir, env), testkit.Start(t, dir, env)}
	testwait.For(t, 15*time.Second, "a worker to lead", func() bool { return workers[0].IsLeader() || workers[1].IsLeader() })
	js := client(t, ns.Connect(t))
	nc := js.Conn()

	start := time.Now()
	cr := testkit.CreateUsers(t, emu.Emulator, "cluster", 200, 4*time.Second)
	var wg sync.WaitGroup
	keyed := make([]string, 40) // user id per Idempotency-Key
	for i := range keyed {
		wg.Go(func() {
			<-time.After(time.Duration(i) * 60 * time.Millisecond) // spread over the restart
			keyed[i] = createTwice(t, nc, fmt.Sprintf("idem-%02d", i))
		})
	}
	<-time.After(time.Until(start.Add(time.Second)))
	cs.Nodes[1].Restart()
	t.Logf("master %s restarted %v into the run", cs.Nodes[1].Addr(), time.Since(start).Round(time.Millisecond))
	wg.Wait()
	distinct := map[string]bool{}
	for _, u := range keyed {
		distinct[u] = true
	}
	if len(distinct) != len(keyed) {
		t.Errorf("%d Idempotency-Keys made %d distinct users", len(keyed), len(distinct))
	}
	signedUp := cr.Wait()
	if got, want := emu.Emulator.UserCount(), len(existing)+len(signedUp)+len(keyed); got != want {
		t.Errorf("the emulator holds %d users, want %d (%d existing, %d signed up, %d keyed creates)", got, want, len(existing), len(signedUp), len(keyed))
	}
	// The users the commands made are new users too: their events count.
	ids := append(append(existing, signedUp...), keyed...)
	testkit.UsersExactlyOnce(t, js, ids, 30*time.Second)
	if code, out := check(t, env); code != 0 || !strings.Contains(out, "(cluster): ping, EVAL and writes ok") {
		t.Errorf("check exited %d:\n%s", code, out)
	}
}

func seedUsers(prefix string, n int) []emulator.SeedUser {
	out := make([]emulator.SeedUser, n)
	for i := range out {
		out[i] = emulator.SeedUser{Email: fmt.Sprintf("%s-%d@example.com", prefix, i)}
	}
	return out
}

// createTwice sends users.create with an Idempotency-Key until it is not
// refused for a moment (503 while Redis is restarting), then once more: both
// replies must name the same user, whose id it returns.
func createTwice(t *testing.T, nc *nats.Conn, key string) string {
	var first string
	for range 2 {
		var got string
		deadline := time.Now().Add(20 * time.Second)
		for got == "" {
			m := nats.NewMsg("auth0.svc.users.create")
			m.Header.Set("Idempotency-Key", key)
			m.Data = fmt.Appendf(nil, `{"connection":"Username-Password-Authentication","email":"%s@example.com","password":"Passw0rd!-%s"}`, key, key)
			reply, err := nc.RequestMsg(m, 5*time.Second)
			switch {
			case err == nil && reply.Header.Get("Nats-Service-Error-Code") == "":
				var u struct {
					UserID string `json:"user_id"`
				}
				if err := json.Unmarshal(reply.Data, &u); err != nil || u.UserID == "" {
					t.Errorf("%s: reply %s", key, reply.Data)
					return ""
				}
				got = u.UserID
			case time.Now().After(deadline):
				t.Errorf("%s: no success within 20s: %v %v", key, err, reply)
				return ""
			case err == nil && reply.Header.Get("Nats-Service-Error-Code") != "503":
				t.Errorf("%s: error reply %s %s", key, reply.Header.Get("Nats-Service-Error-Code"), reply.Data)
				return ""
			default:
				time.Sleep(100 * time.Millisecond) // Redis coming back
			}
		}
		if first != "" && got != first {
			t.Errorf("%s: the repeat made user %s, the first %s", key, got, first)
		}
		first = got
	}
	return first
}
