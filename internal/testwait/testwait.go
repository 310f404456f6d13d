// Package testwait waits in tests for a condition with a deadline — the
// project's replacement for sleeps standing in for synchronisation.
package testwait

import (
	"testing"
	"time"
)

// Poll is how often For re-checks its condition.
const Poll = 10 * time.Millisecond

// For polls cond until it holds, failing the test (t.Fatalf) with what when
// d passes first. Use it for state owned by another goroutine, process or
// server, where no channel tells us the moment it changes.
func For(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(Poll)
	}
}
