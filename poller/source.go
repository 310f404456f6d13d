package poller

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// Mode says where a source runs.
type Mode int

const (
	// Pull sources run on the leader only, under the poller lease: they
	// read Auth0 (Events API, search) and keep cursors.
	Pull Mode = iota
	// Push sources run on every replica, with no lease: Auth0 sends to
	// them (the Event Streams receiver, behind one load balancer).
	Push
)

func (m Mode) String() string {
	if m == Push {
		return "push"
	}
	return "pull"
}

// Source is one way user events reach JetStream, in the spirit of
// Prometheus discovery's Discoverer.Run(ctx, ch): Run feeds batches to sink
// until ctx ends, and returns nil then. A pull source's Run is called each
// time this replica becomes the leader (and its ctx ends with the
// leadership); a push source's once per process.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, sink Sink) error

// Run calls f.
func (f SourceFunc) Run(ctx context.Context, sink Sink) error { return f(ctx, sink) }

// Sink is the pipeline as a source sees it: dedupe.Seen → publish (or
// dead-letter the unusable, DESIGN §4b) → dedupe.Mark the acknowledged.
type Sink interface {
	// Publish runs users through the pipeline and returns the length of the
	// leading run that is certainly in JetStream (or dead-lettered) and
	// marked seen: a source may move its position past those only. err is
	// the first failure (NATS or Redis unavailable, ...); retry the rest.
	Publish(ctx context.Context, users []auth0.User) (done int, err error)
}

// sink is the pipeline bound to one source name (the metrics label and the
// Dlq-Source header).
type sink struct {
	p    *Poller
	name string
}

func (s sink) Publish(ctx context.Context, users []auth0.User) (int, error) {
	ctx, span := s.p.startCycle(ctx, s.name)
	res, err := s.p.publishBatch(ctx, s.name, users, 0)
	endCycle(span, err)
	return res.done, err
}

// Registration describes a source. Adding a source is one file that
// registers itself in an init function, plus its options.
type Registration struct {
	// Name is the POLL_SOURCE value (for pull sources a user may select) and
	// the `source` label of the metrics.
	Name string
	// Mode is Pull or Push.
	Mode Mode
	// Selectable: a pull source Options.Source may name. Sources that only
	// run inside others (reconcile, backfill) are registered for their
	// metric label and not selectable.
	Selectable bool
	// New builds the source for p; nil with a nil error means "not
	// configured" (a push source without its address). Required for push
	// and selectable sources.
	New func(p *Poller) (Source, error)
}

var (
	regMu    sync.RWMutex
	registry []Registration
)

// Register adds a source. It panics on a repeated or empty name: a
// programming error, found at start-up.
func Register(r Registration) {
	regMu.Lock()
	defer regMu.Unlock()
	if r.Name == "" || slices.ContainsFunc(registry, func(o Registration) bool { return o.Name == r.Name }) {
		panic(fmt.Sprintf("poller: source %q registered twice or without a name", r.Name))
	}
	if r.New == nil && (r.Mode == Push || r.Selectable) {
		panic(fmt.Sprintf("poller: source %q has no New", r.Name))
	}
	registry = append(registry, r)
}

// SourceNames lists every registered source name in registration order:
// the values of the `source` label (metrics, check).
func SourceNames() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.Name
	}
	return names
}

// lookup returns the registration of name.
func lookup(name string) (Registration, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	for _, r := range registry {
		if r.Name == name {
			return r, true
		}
	}
	return Registration{}, false
}

// sourcesOf lists the registrations of one mode.
func sourcesOf(m Mode) []Registration {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []Registration
	for _, r := range registry {
		if r.Mode == m {
			out = append(out, r)
		}
	}
	return out
}

// setSource marks the active pull source in source_active (the other pull
// sources 0; push sources keep their own value).
func (p *Poller) setSource(active string) {
	if p.m == nil {
		return
	}
	for _, r := range sourcesOf(Pull) {
		if r.Selectable && r.Name == SourceAuto {
			continue // auto is never itself active: events or search is
		}
		v := 0.0
		if r.Name == active {
			v = 1
		}
		p.m.SourceActive.WithLabelValues(r.Name).Set(v)
	}
}

// The built-in sources. events, search and auto are selectable pull
// sources (POLL_SOURCE); auto wraps events and search. reconcile runs
// inside events and is registered for its label.
func init() {
	Register(Registration{Name: SourceEvents, Mode: Pull, Selectable: true, New: func(p *Poller) (Source, error) {
		return SourceFunc(func(ctx context.Context, _ Sink) error { return p.runEvents(ctx, false) }), nil
	}})
	Register(Registration{Name: SourceSearch, Mode: Pull, Selectable: true, New: func(p *Poller) (Source, error) {
		return SourceFunc(func(ctx context.Context, _ Sink) error {
			p.setSource(SourceSearch)
			return (&searchSource{p: p}).run(ctx, false)
		}), nil
	}})
	Register(Registration{Name: SourceAuto, Mode: Pull, Selectable: true, New: func(p *Poller) (Source, error) {
		return SourceFunc(func(ctx context.Context, _ Sink) error { return p.runEvents(ctx, true) }), nil
	}})
	// Backfill publishes under the search label (its scan is search's).
	Register(Registration{Name: SourceReconcile, Mode: Pull})
}
