package poller

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// lockedLines collects log lines from several goroutines.
type lockedLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(b))
	return len(b), nil
}

func (l *lockedLines) find(level, substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, `"level":"`+level+`"`) && strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// auto falling back to search while updates and deletions are wanted: an
// error-level line, source_active{search} 1, and created users keep flowing.
func TestAutoFallbackWithLifeCycleTypesLogsError(t *testing.T) {
	r := newRig(t, emulator.Knobs{EventsDisabled: true, IndexLag: 50 * time.Millisecond})
	logs := &lockedLines{}
	p, m := r.poller(Options{Source: SourceAuto, Types: allTypes, Interval: 100 * time.Millisecond, Overlap: 5 * time.Second,
		Start: pollstart.Start{Mode: pollstart.Time, Time: time.Now().Add(-time.Minute)}}, "")
	p.log = slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	ids := seed(t, r.srv.Emulator, "fb", 5, nil, true)
	r.expectExactlyOnce(ids, 20*time.Second)
	testwait.For(t, 10*time.Second, "the error line", func() bool {
		return logs.find("ERROR", "carries user.created only")
	})
	if v := value(m.SourceActive.WithLabelValues(SourceSearch)); v != 1 {
		t.Fatalf("source_active{search} = %v", v)
	}
	if logs.find("WARN", "falling back to search") {
		t.Fatal("the fallback was logged at warning level only")
	}
}
