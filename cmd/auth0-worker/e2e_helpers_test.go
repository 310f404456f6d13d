package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// e2eRig is the set of real parts a process-level test runs the worker
// against: embedded NATS (file store), a real redis-server (AOF) and the
// Auth0 emulator, plus a test-side NATS connection that survives restarts.
type e2eRig struct {
	t     *testing.T
	nats  *testnats.Server
	redis *testredis.Server
	emu   *emulatortest.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	dir   string
}

func newE2ERig(t *testing.T, cfg emulator.Config) *e2eRig {
	t.Helper()
	r := &e2eRig{t: t, nats: testnats.Start(t), redis: testredis.Start(t), emu: emulatortest.NewServer(t, cfg), dir: t.TempDir()}
	r.nc = r.nats.Connect(t)
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	r.js = js
	return r
}

// env is the worker environment for one client of the emulator; extra
// KEY=VALUE entries come last and so override (os/exec keeps the last).
func (r *e2eRig) env(clientID, secret string, extra ...string) []string {
	return append([]string{
		"AUTH0_DOMAIN=" + r.emu.URL,
		"AUTH0_CLIENT_ID=" + clientID,
		"AUTH0_CLIENT_SECRET=" + secret,
		"NATS_URL=" + r.nats.URL(),
		"REDIS_URL=" + r.redis.URL(),
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_LEVEL=info",
	}, extra...)
}

// start runs the worker ("run" unless args say otherwise) and waits until
// its HTTP server listens.
func (r *e2eRig) start(env []string, args ...string) *workerProcess {
	r.t.Helper()
	p := startWorker(r.t, r.dir, env, args...)
	r.t.Cleanup(func() { p.noDataRace(r.t) })
	p.httpAddr(r.t)
	return p
}

// noDataRace fails the test when the child (built with -race like the test
// binary) reported a data race; a SIGKILLed child never gets to exit 66.
func (p *workerProcess) noDataRace(t *testing.T) {
	if out := p.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
		i := strings.Index(out, "WARNING: DATA RACE")
		t.Errorf("the worker reported a data race:\n%s", out[i:min(len(out), i+4000)])
	}
}

var runningLine = regexp.MustCompile(`"msg":"auth0-worker running"[^\n]*"http":"([^"]+)"`)

// httpAddr waits for the "auth0-worker running" log line and returns its
// HTTP address.
func (p *workerProcess) httpAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testwait.For(t, 20*time.Second, "the worker's 'running' line", func() bool {
		if m := runningLine.FindStringSubmatch(p.out.String()); m != nil {
			addr = m[1]
		}
		if addr == "" && p.cmd.ProcessState != nil {
			t.Fatalf("worker exited before running: %v", p.cmd.ProcessState)
		}
		return addr != ""
	})
	return addr
}

// metric returns the value of an unlabelled metric (or the sum over a
// metric's series whose labels contain labelSubstr); ok is false when the
// scrape failed.
func (p *workerProcess) metric(t *testing.T, name, labelSubstr string) (float64, bool) {
	t.Helper()
	addr := ""
	if m := runningLine.FindStringSubmatch(p.out.String()); m != nil {
		addr = m[1]
	}
	if addr == "" {
		return 0, false
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if !(strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) || !strings.Contains(rest, labelSubstr) {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

// isLeader reports the worker's auth0_worker_leader gauge.
func (p *workerProcess) isLeader(t *testing.T) bool {
	v, ok := p.metric(t, "auth0_worker_leader", "")
	return ok && v == 1
}

// ready reports whether /readyz answers 200.
func (p *workerProcess) ready(t *testing.T) bool {
	m := runningLine.FindStringSubmatch(p.out.String())
	if m == nil {
		return false
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + m[1] + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill SIGKILLs the worker and reaps it.
func (p *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill worker: %v", err)
	}
	_ = p.cmd.Wait()
}

// stop sends sig and waits up to within for the exit; it returns the exit
// code, or fails the test (after a SIGKILL) when the worker did not exit.
func (p *workerProcess) stop(t *testing.T, sig syscall.Signal, within time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal worker: %v", err)
	}
	return p.waitExit(t, within, start)
}

// waitExit waits for the process to exit by itself within d.
func (p *workerProcess) waitExit(t *testing.T, within time.Duration, since time.Time) (int, time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
		return p.cmd.ProcessState.ExitCode(), time.Since(since)
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		<-done // reaped before t.Cleanup looks at ProcessState
		t.Fatalf("worker did not exit within %v", within)
		return -1, 0
	}
}

// streamMsg is one stored message read back from a stream.
type streamMsg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
}

// streamMsgs reads the stream's current content by sequence.
func (r *e2eRig) streamMsgs(stream string) []streamMsg {
	r.t.Helper()
	var out []streamMsg
	err := retryCtx(10*time.Second, func(ctx context.Context) error {
		out = out[:0]
		s, err := r.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, streamMsg{Seq: seq, Subject: m.Subject, Header: m.Header, Data: m.Data})
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("read stream %s: %v", stream, err)
	}
	return out
}

// streamCount is the stream's message count, 0 while it cannot be read
// (missing, or NATS restarting).
func (r *e2eRig) streamCount(stream string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// retryCtx retries fn (each try with a fresh 2s context) until it succeeds
// or within passes; NATS may be reconnecting after a restart.
func retryCtx(within time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // back-off between tries against a reconnecting server
	}
}

// userCreatedEvent is the part of the CloudEvent the tests check.
type userCreatedEvent struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Type    string `json:"type"`
}

// expectUsersExactlyOnce waits until AUTH0_USERS holds at least len(ids)
// messages, then asserts each user id is in it exactly once, every
// Nats-Msg-Id is unique and equals the CloudEvent id, and nothing else is
// there.
func (r *e2eRig) expectUsersExactlyOnce(ids []string, within time.Duration) {
	r.t.Helper()
	want := uint64(len(ids))
	deadline := time.Now().Add(within)
	for r.streamCount("AUTH0_USERS") < want {
		if time.Now().After(deadline) {
			got := r.eventsByUser()
			var missing []string
			for _, id := range ids {
				if got[id] == 0 {
					missing = append(missing, id)
				}
			}
			r.t.Fatalf("after %v AUTH0_USERS holds %d of %d users; %d missing, e.g. %v", within, len(got), len(ids), len(missing), first(missing, 5))
		}
		time.Sleep(25 * time.Millisecond) // polling the stream's state
	}
	msgs := r.streamMsgs("AUTH0_USERS")
	byMsgID := map[string]int{}
	byUser := map[string]int{}
	for _, m := range msgs {
		var ev userCreatedEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			r.t.Fatalf("seq %d: body is not a CloudEvent: %v", m.Seq, err)
		}
		msgID := m.Header.Get("Nats-Msg-Id")
		if msgID == "" || msgID != ev.ID {
			r.t.Errorf("seq %d: Nats-Msg-Id %q, CloudEvent id %q", m.Seq, msgID, ev.ID)
		}
		if m.Subject != "auth0.users.created" || ev.Type != "com.auth0.user.created" {
			r.t.Errorf("seq %d: subject %q type %q", m.Seq, m.Subject, ev.Type)
		}
		byMsgID[msgID]++
		byUser[ev.Subject]++
	}
	var dups []string
	for id, n := range byMsgID {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", id, n))
		}
	}
	sort.Strings(dups)
	if len(dups) > 0 {
		r.t.Errorf("%d event ids stored more than once, e.g. %v", len(dups), first(dups, 5))
	}
	wantSet := map[string]bool{}
	var missing, twice []string
	for _, id := range ids {
		wantSet[id] = true
		switch byUser[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			twice = append(twice, id)
		}
	}
	var extra []string
	for id := range byUser {
		if !wantSet[id] {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(twice)+len(extra) > 0 {
		r.t.Fatalf("%d users created, %d messages: %d missing %v, %d more than once %v, %d unexpected %v",
			len(ids), len(msgs), len(missing), first(missing, 5), len(twice), first(twice, 5), len(extra), first(extra, 5))
	}
}

func (r *e2eRig) eventsByUser() map[string]int {
	out := map[string]int{}
	for _, m := range r.streamMsgs("AUTH0_USERS") {
		var ev userCreatedEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			out[ev.Subject]++
		}
	}
	return out
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// creator signs users up in the emulator (with user.created events) at a
// steady pace in the background.
type creator struct {
	mu   sync.Mutex
	ids  []string
	done chan struct{}
}

// createUsers signs up n users named by prefix over about `over`, in
// batches every 50 ms. wait() returns every id.
func (r *e2eRig) createUsers(prefix string, n int, over time.Duration) *creator {
	c := &creator{done: make(chan struct{})}
	r.t.Cleanup(func() { <-c.done }) // no Errorf after the test ended, even when it failed early
	const tick = 50 * time.Millisecond
	batches := max(int(over/tick), 1)
	go func() {
		defer close(c.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		made := 0
		for b := 0; b < batches && made < n; b++ {
			k := (n - made) / (batches - b)
			if b == batches-1 {
				k = n - made
			}
			users := make([]emulator.SeedUser, k)
			for i := range users {
				users[i] = emulator.SeedUser{Email: fmt.Sprintf("%s-%d@example.com", prefix, made+i)}
			}
			ids, err := r.emu.Emulator.CreateUsers(users)
			if err != nil {
				r.t.Errorf("create users: %v", err)
				return
			}
			made += k
			c.mu.Lock()
			c.ids = append(c.ids, ids...)
			c.mu.Unlock()
			<-tk.C // creation pace
		}
	}()
	return c
}

func (c *creator) wait() []string {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

func (c *creator) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}
