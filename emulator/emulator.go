package emulator

import (
	"net/http"
	"sync"
)

// Emulator is an emulated Auth0 tenant. It is safe for concurrent use.
// (Skeleton: the emulator core's author extends this struct and New.)
type Emulator struct {
	cfg Config

	knobsMu sync.RWMutex
	knobs   Knobs

	// events is the Events API log (eventlog.go); the user store appends to
	// it on every create, update and delete.
	events *eventLog
}

// New returns an emulator for cfg.
func New(cfg Config) *Emulator {
	e := &Emulator{cfg: cfg, knobs: cfg.Knobs}
	e.events = newEventLog(e)
	return e
}

// Knobs returns the current knobs.
func (e *Emulator) Knobs() Knobs {
	e.knobsMu.RLock()
	defer e.knobsMu.RUnlock()
	return e.knobs
}

// SetKnobs changes knobs at run time.
func (e *Emulator) SetKnobs(f func(*Knobs)) {
	e.knobsMu.Lock()
	defer e.knobsMu.Unlock()
	f(&e.knobs)
}

// ServeHTTP routes requests. (Skeleton.)
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}
