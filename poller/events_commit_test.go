package poller

import (
	"errors"
	"testing"
	"time"
)

// finished is a flight whose batch is already in the stream (err nil) or
// failed.
func finished(offset string, newest time.Time, err error) *flight {
	f := &flight{done: make(chan error, 1), offset: offset, newest: newest}
	f.done <- err
	return f
}

func TestFlightQueueCoalescesFinishedFlightsInOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	running := &flight{done: make(chan error, 1), offset: "o4"}
	in := make(chan *flight, 4)
	in <- finished("o2", t0.Add(2*time.Second), nil)
	in <- finished("", t0.Add(time.Second), nil) // no offset, older time: keeps o2 and t0+2s
	in <- running
	q := &flightQueue{in: in}

	first := q.next()
	if err := <-first.done; err != nil {
		t.Fatal(err)
	}
	run, err := q.coalesce(first)
	if err != nil || run.offset != "o2" || !run.newest.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("coalesced to %q %v (err %v), want o2 and t0+2s", run.offset, run.newest, err)
	}
	// The running flight is next, waited for, not skipped.
	if f := q.next(); f != running {
		t.Fatalf("next flight %+v, want the running one", f)
	}
	close(in)
	if f := q.next(); f != nil {
		t.Fatalf("after close: %+v", f)
	}
}

func TestFlightQueueCoalesceStopsAtAFailedFlight(t *testing.T) {
	boom := errors.New("publish failed")
	in := make(chan *flight, 3)
	in <- finished("o2", time.Time{}, nil)
	in <- finished("o3", time.Time{}, boom)
	in <- finished("o4", time.Time{}, nil)
	q := &flightQueue{in: in}
	first := finished("o1", time.Time{}, nil)
	<-first.done
	run, err := q.coalesce(first)
	if !errors.Is(err, boom) || run.offset != "o2" {
		t.Fatalf("coalesced to %q (err %v), want o2 and the failure", run.offset, err)
	}
	// The flight after the failed one is left for the committer to wait for.
	if f := q.next(); f == nil || f.offset != "o4" {
		t.Fatalf("next flight %+v, want o4", f)
	}
}
