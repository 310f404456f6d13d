package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as the auth0-worker binary: with
// AUTH0_WORKER_TEST_MAIN=1 it runs main() instead of the tests. Tests that
// need a real child process (SIGKILL, dev) exec os.Args[0] that way, so no
// separate build is needed.
func TestMain(m *testing.M) {
	if os.Getenv("AUTH0_WORKER_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for a child's output goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// workerProcess is the worker running as a child process.
type workerProcess struct {
	cmd *exec.Cmd
	out *syncBuffer
}

// startWorker starts the worker binary (this test binary) with args and env
// (KEY=VALUE, added to a minimal environment). It is killed at cleanup.
func startWorker(t *testing.T, dir string, env []string, args ...string) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"AUTH0_WORKER_TEST_MAIN=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=json", "LOG_LEVEL=debug"}, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	p := &workerProcess{cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})
	return p
}

func runCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = runMain(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersionAndUnknownSubcommand(t *testing.T) {
	code, out, _ := runCapture(t, "version")
	if code != 0 || !strings.HasPrefix(out, "auth0-worker ") {
		t.Fatalf("version: code %d out %q", code, out)
	}
	code, _, errOut := runCapture(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown subcommand "frobnicate"`) {
		t.Fatalf("unknown subcommand: code %d stderr %q", code, errOut)
	}
}
