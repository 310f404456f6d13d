package poller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

// The seam proven, not described: this file adds a pull source ("scripted",
// selectable as Options.Source, run only by the leader) and a push source
// ("pushed", run on every replica) through the registry alone, and runs
// them end to end against real NATS and Redis.

var scriptedUsers = func() []auth0.User {
	var us []auth0.User
	for i := range 5 {
		id := fmt.Sprintf("test|scripted-%d", i)
		ca := fmt.Sprintf("2026-01-01T00:00:0%d.000Z", i)
		us = append(us, auth0.User{UserID: id, CreatedAt: ca, Raw: json.RawMessage(`{"user_id":"` + id + `","created_at":"` + ca + `"}`)})
	}
	return us
}()

// pushStarts counts the push source's starts (one per Poller, leader or not).
var pushStarts = make(chan string, 8)

func init() {
	Register(Registration{Name: "scripted", Mode: Pull, Selectable: true, New: func(p *Poller) (Source, error) {
		return SourceFunc(func(ctx context.Context, sink Sink) error {
			p.setSource("scripted")
			for ctx.Err() == nil {
				if done, err := sink.Publish(ctx, slices.Clone(scriptedUsers)); err == nil && done == len(scriptedUsers) {
					break
				}
				tick.Sleep(ctx, 50*time.Millisecond)
			}
			<-ctx.Done()
			return nil
		}), nil
	}})
	Register(Registration{Name: "pushed", Mode: Push, New: func(p *Poller) (Source, error) {
		if p.opts.Source != "scripted" {
			return nil, nil // not configured in the other tests
		}
		return SourceFunc(func(ctx context.Context, sink Sink) error {
			pushStarts <- "started"
			u := auth0.User{UserID: "test|pushed", CreatedAt: "2026-01-02T00:00:00.000Z", Kind: "user.updated", EventTime: "2026-01-03T00:00:00.000Z",
				Raw: json.RawMessage(`{"user_id":"test|pushed","created_at":"2026-01-02T00:00:00.000Z"}`)}
			for ctx.Err() == nil {
				if done, err := sink.Publish(ctx, []auth0.User{u}); err == nil && done == 1 {
					break
				}
				tick.Sleep(ctx, 50*time.Millisecond)
			}
			<-ctx.Done()
			return nil
		}), nil
	}})
}

func TestRegisteredSourcesRunEndToEnd(t *testing.T) {
	r := newRig(t, emulator.Knobs{})
	var ids []string
	for _, u := range scriptedUsers {
		ids = append(ids, u.UserID)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	p1, m1 := r.poller(Options{Source: "scripted", Searcher: noSearch{}}, "")
	p2, m2 := r.poller(Options{Source: "scripted", Searcher: noSearch{}}, "")
	done := make(chan error, 2)
	go func() { done <- p1.Run(ctx) }()
	go func() { done <- p2.Run(ctx) }()
	r.expectExactlyOnce(append(ids, "updated@test|pushed"), 20*time.Second)
	// Both replicas started the push source; one leader ran the pull source.
	for range 2 {
		select {
		case <-pushStarts:
		case <-time.After(10 * time.Second):
			t.Fatal("a push source did not start on every replica")
		}
	}
	testwait.For(t, 10*time.Second, "one leader", func() bool { return p1.IsLeader() != p2.IsLeader() })
	if p1.IsLeader() && value(m1.SourceActive.WithLabelValues("scripted")) != 1 {
		t.Fatal("source_active{source=scripted} is not 1 on the leader")
	}
	if !slices.Contains(SourceNames(), "scripted") || !slices.Contains(SourceNames(), "pushed") {
		t.Fatalf("registry names %v", SourceNames())
	}
	var selectable []string
	for _, r := range Selectable() {
		selectable = append(selectable, r.Name)
	}
	if !slices.Contains(selectable, "scripted") || slices.Contains(selectable, "pushed") {
		t.Fatalf("selectable %v: want scripted, not the push source", selectable)
	}
	// Each source publishes under its own label (its name); the counters
	// follow the acks, so they are waited for.
	published := func(source, typ string) float64 {
		return value(m1.UsersPublished.WithLabelValues(source, typ)) + value(m2.UsersPublished.WithLabelValues(source, typ))
	}
	testwait.For(t, 10*time.Second, "users_published_total by the sources' labels", func() bool {
		return published("scripted", "created") == float64(len(ids)) && published("pushed", "updated") == 1
	})
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// noSearch satisfies UserSearcher for sources that never search.
type noSearch struct{}

func (noSearch) SearchUsers(context.Context, auth0.SearchParams) (*auth0.UsersPage, error) {
	return nil, fmt.Errorf("no search in this test")
}

// source_active takes its labels from the registry: the active source 1,
// the other pull sources 0, and no series for a wrapper (auto) or for a
// source that publishes under another's label (backfill, as search).
func TestSourceActiveLabelsFromRegistry(t *testing.T) {
	m := metrics.New()
	p := &Poller{m: m}
	p.setSource(SourceSearch)
	ch := make(chan prometheus.Metric, 64)
	m.SourceActive.Collect(ch)
	close(ch)
	got := map[string]float64{}
	for mt := range ch {
		var d dto.Metric
		if err := mt.Write(&d); err != nil {
			t.Fatal(err)
		}
		got[d.GetLabel()[0].GetValue()] = d.GetGauge().GetValue()
	}
	if got[SourceSearch] != 1 || got[SourceEvents] != 0 || got[SourceReconcile] != 0 || len(got) != len(sourcesOf(Pull))-2 {
		t.Fatalf("source_active %v", got)
	}
	if _, ok := got[SourceAuto]; ok {
		t.Fatalf("source_active has a series for the wrapper auto: %v", got)
	}
	if _, ok := got[SourceBackfill]; ok {
		t.Fatalf("source_active has a series for backfill: %v", got)
	}
}
