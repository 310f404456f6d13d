package workercmd

import (
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// TestPollOptionsFromConfig: config's "0 means none/off" reaches the poller
// as its typed flags, and POLL_START as the parsed value (no string trip).
func TestPollOptionsFromConfig(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	off := pollOptions(config.Poll{Start: pollstart.Start{Mode: pollstart.Time, Time: at}}, nil, config.Webhook{})
	if !off.NoOverlap || !off.ReconcileOff || off.Start.Mode != pollstart.Time || !off.Start.Time.Equal(at) {
		t.Fatalf("POLL_OVERLAP=0, RECONCILE_INTERVAL=0, POLL_START=%s: got NoOverlap %v, ReconcileOff %v, Start %v",
			at.Format(time.RFC3339), off.NoOverlap, off.ReconcileOff, off.Start)
	}
	on := pollOptions(config.Poll{Overlap: time.Minute, ReconcileInterval: time.Hour, Start: pollstart.Start{Mode: pollstart.All}}, nil, config.Webhook{})
	if on.NoOverlap || on.ReconcileOff || on.Overlap != time.Minute || on.ReconcileInterval != time.Hour || on.Start.Mode != pollstart.All {
		t.Fatalf("POLL_OVERLAP=1m, RECONCILE_INTERVAL=1h, POLL_START=all: got %+v", on)
	}
}
