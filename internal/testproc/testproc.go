// Package testproc runs a command's own test binary as the command, in a
// child process, for tests that need a real process (signals, SIGKILL, exit
// codes): with the marker variable set, Main runs the command's main()
// instead of the tests, so no separate build is needed.
package testproc

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// envMain marks a child started by Start.
const envMain = "AUTH0_WORKER_TEST_MAIN"

// Main is a command's TestMain: main in a child started by Start, else the tests.
func Main(m *testing.M, main func()) {
	if os.Getenv(envMain) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// Buffer is a bytes.Buffer safe for a child's output and the test together.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Process is the command running as a child process.
type Process struct {
	Cmd *exec.Cmd
	Out *Buffer // stdout and stderr together
}

// Start starts the command (this test binary, see Main) in dir with args and
// env (KEY=VALUE, added to a minimal environment with JSON debug logs). It is
// killed at cleanup if still running; its output is logged if the test failed.
func Start(t *testing.T, dir string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append([]string{envMain + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_FORMAT=json", "LOG_LEVEL=debug"}, env...)
	out := &Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", os.Args[0], err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, out.String())
		}
	})
	return &Process{Cmd: cmd, Out: out}
}
