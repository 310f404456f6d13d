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
// dead-letter the unusable, docs/architecture.md) → dedupe.Mark the
// acknowledged, bound to the source's metric label. The Poller is its only
// implementation: its unexported methods serve the built-in sources (a
// publish cap and counts, oversized stream messages, other labels).
type Sink interface {
	// Publish runs users through the pipeline and returns the length of the
	// leading run that is certainly in JetStream (or dead-lettered) and
	// marked seen: a source may move its position past those only. err is
	// the first failure (NATS or Redis unavailable, ...); retry the rest.
	// Each call is one poll cycle in the traces.
	Publish(ctx context.Context, users []auth0.User) (done int, err error)

	// publish is Publish without a span of its own (the caller's cycle is
	// the span), publishing at most maxPublish unseen users (≤ 0: all).
	publish(ctx context.Context, users []auth0.User, maxPublish int) (batchResult, error)
	// oversized dead-letters stream messages too large to read.
	oversized(ctx context.Context, offsets []string) error
	// forSource is the same pipeline under the label of the registered
	// source name: a source that runs others hands them these.
	forSource(name string) Sink
}

// Registration describes a source. Adding a source is one file that
// registers itself in an init function, plus its options.
type Registration struct {
	// Name is the POLL_SOURCE value (for pull sources a user may select).
	Name string
	// Label is the `source` label of the metrics and the Dlq-Source header;
	// default Name. Backfill publishes as search.
	Label string
	// Mode is Pull or Push.
	Mode Mode
	// Selectable: a pull source Options.Source may name. Sources that only
	// run inside others (reconcile, backfill) are registered for their
	// metric label and not selectable.
	Selectable bool
	// Wraps names the sources this one runs by turns (auto: events, then
	// search). A wrapper has no label of its own: source_active shows the
	// source it runs.
	Wraps []string
	// EventsAPI: the source reads the Events API (`check` opens a stream).
	EventsAPI bool
	// Fallback is the source it runs while the Events API refuses this
	// client ("" = none): `check` then warns instead of failing.
	Fallback string
	// New builds the source for p; nil with a nil error means "not
	// configured" (a push source without its address). Required for push
	// and selectable sources; the others run inside the source that builds
	// them (reconcile and backfill inside events).
	New func(p *Poller) (Source, error)
}

// label is the metrics label of r.
func (r Registration) label() string {
	if r.Label != "" {
		return r.Label
	}
	return r.Name
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

// SourceNames lists every registered source name in registration order.
func SourceNames() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, len(registry))
	for i, r := range registry {
		names[i] = r.Name
	}
	return names
}

// Selectable lists the registrations POLL_SOURCE may name, in registration
// order (cmd hands them to the check and to config).
func Selectable() []Registration {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []Registration
	for _, r := range registry {
		if r.Selectable {
			out = append(out, r)
		}
	}
	return out
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

// setSource marks the active pull source in source_active: its label 1,
// the other pull labels 0. Push sources keep their own value; a wrapper has
// no label of its own, and a source publishing under another's label
// (backfill) leaves the gauge to that one.
func (p *Poller) setSource(active string) {
	if p.m == nil {
		return
	}
	for _, r := range sourcesOf(Pull) {
		if len(r.Wraps) > 0 || r.label() != r.Name {
			continue
		}
		v := 0.0
		if r.Name == active {
			v = 1
		}
		p.m.SourceActive.WithLabelValues(r.Name).Set(v)
	}
}
