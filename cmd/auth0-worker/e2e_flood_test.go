package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/auth0-worker/auth0-worker/cmd/internal/workercmd"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// Reproduction (README "Commands", floods): with Auth0 slow, 200 users.get took
// p50 26 s and none got a 504; 720 requests of 900 KB raised RSS to 1 GB and
// 120 got no reply; `nats micro ls` showed 8 instances per process.
//
// Here Auth0 answers in 1 s, COMMAND_CONCURRENCY=4, COMMAND_TIMEOUT=5s, and
// 600 valid users.update requests of ~100 KB arrive within 2 s. Every
// request gets a success, 503 overloaded or 504 (a missing reply only as a
// counted drop); nothing reaches Auth0 after its deadline + 1 s; a normal
// request right after is answered; one service instance answers PING, with
// the binary's version.
func TestE2ECommandFloodStaysBounded(t *testing.T) {
	const (
		n       = 600
		timeout = 5 * time.Second
		latency = time.Second
	)
	rig := newE2ERig(t, emulator.Config{Knobs: emulator.Knobs{Latency: latency}})
	seed := make([]emulator.SeedUser, n)
	for i := range seed {
		seed[i] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|flood%04d", i), Email: fmt.Sprintf("f%04d@flood.test", i), NoEvent: true}
	}
	if _, err := rig.emu.Emulator.CreateUsers(seed); err != nil {
		t.Fatal(err)
	}
	p := rig.start(rig.env(rig.emu.ClientID, rig.emu.ClientSecret,
		"COMMAND_CONCURRENCY=4", "COMMAND_TIMEOUT="+timeout.String()), "serve")
	testwait.For(t, 30*time.Second, "the worker to be ready", func() bool { return p.Ready() })

	// One instance per process, with the binary's version in its metadata.
	inbox := nats.NewInbox()
	pings, err := rig.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.nc.PublishRequest("$SRV.PING.auth0-worker", inbox, nil); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	sent := make([]time.Time, n)
	took := make([]time.Duration, n)
	got := make([]string, n)
	replies, err := rig.nc.Subscribe("_INBOX.flood.*", func(m *nats.Msg) {
		i, _ := strconv.Atoi(m.Subject[len("_INBOX.flood."):])
		status := "200"
		if c := m.Header.Get("Nats-Service-Error-Code"); c != "" {
			var b struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(m.Data, &b)
			status = c + " " + b.Error.Code
		}
		mu.Lock()
		got[i], took[i] = status, time.Since(sent[i])
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer replies.Unsubscribe()
	if err := replies.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 100_000)
	rig.emu.Emulator.ResetRequests()
	start := time.Now()
	for i := range n {
		body := fmt.Sprintf(`{"user_id":"auth0|flood%04d","user_metadata":{"blob":%q}}`, i, blob)
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if err := rig.nc.PublishRequest("auth0.svc.users.update", fmt.Sprintf("_INBOX.flood.%d", i), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rig.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sendTime := time.Since(start)
	if sendTime > 2*time.Second {
		t.Logf("sending took %v (the machine is loaded)", sendTime)
	}
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, g := range got {
			if g != "" {
				k++
			}
		}
		return k
	}
	dropped := func() float64 { v, _ := p.Metric("auth0_worker_commands_dropped_total", ""); return v }
	testwait.For(t, 60*time.Second, "every request answered or counted as dropped", func() bool {
		return float64(answered())+dropped() >= n
	})

	// A normal request right after is answered.
	m, err := rig.nc.Request("auth0.svc.users.get", []byte(`{"user_id":"auth0|flood0000"}`), 30*time.Second)
	if err != nil || m.Header.Get("Nats-Service-Error-Code") != "" {
		t.Fatalf("normal request after the flood: %v %v", err, m)
	}

	mu.Lock()
	counts := map[string]int{}
	var times []time.Duration
	for i, g := range got {
		switch g {
		case "", "200", "503 overloaded", "504 timeout":
		default:
			t.Errorf("request %d: reply %q, want success, 503 overloaded or 504", i, g)
		}
		counts[g]++
		if g != "" {
			times = append(times, took[i])
		}
	}
	// Nothing reached Auth0 after its deadline + 1 s (counted from the
	// send, which is before the worker's stamp).
	for _, r := range rig.emu.Emulator.Requests() {
		id, ok := strings.CutPrefix(r.Path, "/api/v2/users/auth0%7Cflood")
		if !ok || r.Method != "PATCH" {
			continue
		}
		i, _ := strconv.Atoi(id)
		if late := r.Time.Sub(sent[i]) - timeout; late > time.Second {
			t.Errorf("request %d reached Auth0 %v after its deadline", i, late)
		}
	}
	mu.Unlock()
	if counts[""] > int(dropped()) {
		t.Errorf("%d requests without a reply but %v counted as dropped", counts[""], dropped())
	}
	slices.Sort(times)
	pct := func(q float64) time.Duration { return times[min(len(times)-1, int(q*float64(len(times))))] }
	rss := peakRSS(t, p.Cmd.Process.Pid)
	t.Logf("flood: %d requests of ~100 KB sent in %v; replies %v; dropped %v; reply time p50 %v p90 %v p99 %v max %v; worker peak RSS %d MB",
		n, sendTime.Round(time.Millisecond), counts, dropped(), pct(.5).Round(time.Millisecond), pct(.9).Round(time.Millisecond),
		pct(.99).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), rss>>20)
	if counts["200"] < 4 || counts["503 overloaded"] < 1 {
		t.Errorf("replies %v: want some successes and some 503 overloaded", counts)
	}
	if !raceEnabled && rss > 256<<20 {
		t.Errorf("worker peak RSS %d MB, want < 256 MB", rss>>20)
	}

	var instances []micro.Ping
	for {
		pm, err := pings.NextMsg(200 * time.Millisecond) // the flood gave every instance ample time
		if err != nil {
			break
		}
		var ping micro.Ping
		_ = json.Unmarshal(pm.Data, &ping)
		instances = append(instances, ping)
	}
	if len(instances) != 1 || instances[0].Metadata["version"] != workercmd.Version() {
		t.Fatalf("PING answers %+v, want one instance with version %q", instances, workercmd.Version())
	}
}

// peakRSS is the process's VmHWM (Linux), in bytes; 0 elsewhere.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Log("no VmHWM in /proc status")
	return 0
}
