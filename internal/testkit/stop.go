package testkit

import (
	"syscall"
	"testing"
	"time"
)

// Kill SIGKILLs the worker and reaps it.
func (w *Worker) Kill(t *testing.T) {
	t.Helper()
	if err := w.Cmd.Process.Kill(); err != nil {
		t.Fatalf("kill worker: %v", err)
	}
	_ = w.Cmd.Wait()
}

// Stop sends sig and waits up to within for the exit; it returns the exit
// code and how long it took, or fails the test (after a SIGKILL).
func (w *Worker) Stop(t *testing.T, sig syscall.Signal, within time.Duration) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	if err := w.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal worker: %v", err)
	}
	return w.WaitExit(t, within, start)
}

// WaitExit waits up to within for the worker to exit by itself; took is
// counted from since.
func (w *Worker) WaitExit(t *testing.T, within time.Duration, since time.Time) (code int, took time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = w.Cmd.Wait(); close(done) }()
	select {
	case <-done:
		return w.Cmd.ProcessState.ExitCode(), time.Since(since)
	case <-time.After(within):
		_ = w.Cmd.Process.Kill()
		<-done // reaped before testproc's cleanup looks at ProcessState
		t.Fatalf("worker did not exit within %v", within)
		return -1, 0
	}
}
