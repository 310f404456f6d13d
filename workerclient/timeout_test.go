package workerclient

import (
	"testing"

	"github.com/auth0-worker/auth0-worker/internal/limits"
)

// The client waits longer than the worker's own command budget, so a slow
// command ends with the worker's 504, not a client timeout.
func TestDefaultTimeoutAboveCommandTimeout(t *testing.T) {
	if DefaultTimeout <= limits.CommandTimeout {
		t.Fatalf("DefaultTimeout %v is not above COMMAND_TIMEOUT's default %v", DefaultTimeout, limits.CommandTimeout)
	}
}
