// Package e2e runs auth0-worker processes against real servers for
// process-level tests: start, wait for "running", scrape metrics, kill; read
// streams back and assert exactly once. The worker is the test binary itself
// (internal/testproc): a test package's TestMain calls testproc.Main.
package e2e

import (
	"bufio"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// Worker is one auth0-worker child process.
type Worker struct {
	*testproc.Process
	addr string
}

var runningLine = regexp.MustCompile(`"msg":"auth0-worker running"[^\n]*"http":"([^"]+)"`)

// Start runs the worker with env (KEY=VALUE; "run" unless args say
// otherwise) in dir and waits for its "running" line. A data race the child
// reports fails the test.
func Start(t *testing.T, dir string, env []string, args ...string) *Worker {
	t.Helper()
	w := &Worker{Process: testproc.Start(t, dir, append([]string{"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=info"}, env...), args...)}
	t.Cleanup(func() {
		if out := w.Out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("the worker reported a data race:\n%s", out[strings.Index(out, "WARNING: DATA RACE"):])
		}
	})
	testwait.For(t, 30*time.Second, "the worker's 'running' line", func() bool {
		if m := runningLine.FindStringSubmatch(w.Out.String()); m != nil {
			w.addr = m[1]
		}
		if w.addr == "" && w.Cmd.ProcessState != nil {
			t.Fatalf("worker exited before running: %v\n%s", w.Cmd.ProcessState, w.Out.String())
		}
		return w.addr != ""
	})
	return w
}

// Kill SIGKILLs the worker and reaps it.
func (w *Worker) Kill(t *testing.T) {
	t.Helper()
	if err := w.Cmd.Process.Kill(); err != nil {
		t.Fatalf("kill worker: %v", err)
	}
	_ = w.Cmd.Wait()
}

// Metric sums the series of metric name whose labels contain labelSubstr;
// ok is false when the scrape failed.
func (w *Worker) Metric(name, labelSubstr string) (sum float64, ok bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + w.addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), name)
		if !found || !(strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) || !strings.Contains(rest, labelSubstr) {
			continue
		}
		f := strings.Fields(rest)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}

// IsLeader reports the auth0_worker_leader gauge.
func (w *Worker) IsLeader() bool {
	v, ok := w.Metric("auth0_worker_leader", "")
	return ok && v == 1
}

// FreeAddr is a loopback address free right now (a worker binds it, e.g. as
// WEBHOOK_ADDR).
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
