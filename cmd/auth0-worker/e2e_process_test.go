package main

import (
	"encoding/json"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// TestE2ESecondSignalExitsAtOnce: the first SIGTERM starts the graceful
// shutdown, which waits for an in-flight command (its Auth0 reply takes 30 s
// here); a second SIGTERM ends the process at once with exit code 130
// instead of being ignored.
func TestE2ESecondSignalExitsAtOnce(t *testing.T) {
	r := newE2ERig(t, emulator.Config{Knobs: emulator.Knobs{LatencyAfter: 30 * time.Second}})
	p := r.start(commandEnv(r, "COMMAND_TIMEOUT=60s"), "serve")
	testwait.For(t, 10*time.Second, "/readyz", func() bool { return p.Ready() })
	r.publishCreates("sig", 1)
	testwait.For(t, 10*time.Second, "the create to reach Auth0", func() bool { return r.emu.Emulator.UserCount() == 1 })

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the graceful shutdown to start", func() bool {
		return strings.Contains(p.Out.String(), "shutting down")
	})
	code, took := p.Stop(t, syscall.SIGTERM, 3*time.Second)
	if code != 130 {
		t.Fatalf("exit code %d %v after the second SIGTERM, want 130", code, took)
	}
	if !strings.Contains(p.Out.String(), "second terminated during shutdown: exiting now") {
		t.Errorf("no line saying why the process exited early")
	}
}

// TestE2ELibraryLogsAreJSON: with LOG_FORMAT=json every line the worker
// writes is JSON, go-redis's own (here: it cannot dial a Redis that is down)
// included, tagged component=redis.
func TestE2ELibraryLogsAreJSON(t *testing.T) {
	r := newE2ERig(t, emulator.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadRedis := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	p := r.start(commandEnv(r, "REDIS_URL="+deadRedis), "serve")
	testwait.For(t, 20*time.Second, "go-redis to report the failed dials", func() bool {
		p.Ready() // /readyz pings Redis
		return strings.Contains(p.Out.String(), "failed to dial")
	})
	p.Kill(t)
	var redisLines int
	for _, line := range strings.Split(strings.TrimSpace(p.Out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("not a JSON log line: %q", line)
			continue
		}
		if rec["component"] == "redis" {
			redisLines++
		}
	}
	if redisLines == 0 {
		t.Errorf("no line with component=redis")
	}
}

// TestE2EShutdownReportsDrainFailure: SIGTERM while NATS is down cannot
// drain the connection; the log says so (it used to be silent) and the
// process still exits within the 10 s of README "Operations".
func TestE2EShutdownReportsDrainFailure(t *testing.T) {
	r := newE2ERig(t, emulator.Config{})
	p := r.start(commandEnv(r), "serve")
	testwait.For(t, 10*time.Second, "/readyz", func() bool { return p.Ready() })
	r.nats.Shutdown()
	testwait.For(t, 10*time.Second, "the worker to notice NATS is gone", func() bool {
		return strings.Contains(p.Out.String(), "nats disconnected")
	})
	p.Stop(t, syscall.SIGTERM, 10*time.Second)
	if !strings.Contains(p.Out.String(), `"msg":"nats drain failed; unflushed publishes may be lost"`) {
		t.Errorf("the failed drain is not in the log")
	}
}
