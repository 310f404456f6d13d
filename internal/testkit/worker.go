package testkit

import (
	"bufio"
	"io"
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
	addr string // HTTP address from the "running" line; "" until then
}

var runningLine = regexp.MustCompile(`"msg":"auth0-worker running"[^\n]*"http":"([^"]+)"`)

// Launch runs the worker with exactly env (KEY=VALUE, see testproc.Start)
// and args in dir, without waiting for anything. A data race the child
// reports fails the test (a SIGKILLed child never gets to exit 66).
func Launch(t *testing.T, dir string, env []string, args ...string) *Worker {
	t.Helper()
	w := &Worker{Process: testproc.Start(t, dir, env, args...)}
	t.Cleanup(func() {
		if out := w.Out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			i := strings.Index(out, "WARNING: DATA RACE")
			t.Errorf("the worker reported a data race:\n%s", out[i:min(len(out), i+4000)])
		}
	})
	return w
}

// Start runs the worker ("run" unless args say otherwise) with an HTTP
// server on a free port and info logs (env may override both), and waits
// for its "running" line.
func Start(t *testing.T, dir string, env []string, args ...string) *Worker {
	t.Helper()
	w := Launch(t, dir, append([]string{"HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=info"}, env...), args...)
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

// get fetches path from the worker's HTTP server (nil when it fails).
func (w *Worker) get(path string) *http.Response {
	if w.addr == "" {
		return nil
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + w.addr + path)
	if err != nil {
		return nil
	}
	return resp
}

// Ready reports whether /readyz answers 200.
func (w *Worker) Ready() bool {
	resp := w.get("/readyz")
	if resp == nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Metric sums the series of metric name whose labels contain labelSubstr;
// ok is false when the scrape failed.
func (w *Worker) Metric(name, labelSubstr string) (sum float64, ok bool) {
	resp := w.get("/metrics")
	if resp == nil {
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
