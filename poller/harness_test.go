package poller

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
)

var clientSeq atomic.Int64

// newClient is a real auth0 client for the emulator; ua tells replicas
// apart in the emulator's request log.
func newClient(t testing.TB, srv *emulatortest.Server, id, secret, ua string) *auth0.Client {
	t.Helper()
	if id == "" {
		id, secret = srv.ClientID, srv.ClientSecret
	}
	if ua == "" {
		ua = fmt.Sprintf("poller-test-%d", clientSeq.Add(1))
	}
	return testkit.Auth0Client(t, srv, func(c *auth0.Config) { c.ClientID, c.ClientSecret, c.UserAgent = id, secret, ua })
}

// seed creates users in the emulator (with events unless noEvent).
func seed(t testing.TB, e *emulator.Emulator, prefix string, n int, at func(i int) time.Time, noEvent bool) []string {
	t.Helper()
	us := make([]emulator.SeedUser, n)
	for i := range us {
		us[i] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|%s%06d", prefix, i), Email: fmt.Sprintf("%s%d@example.com", prefix, i), NoEvent: noEvent}
		if at != nil {
			us[i].CreatedAt = at(i)
		}
	}
	ids, err := e.CreateUsers(us)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// poller builds a poller over the rig; o's zero fields get test defaults.
func (r *rig) poller(o Options, ua string) (*Poller, *metrics.Metrics) {
	r.t.Helper()
	m := metrics.New()
	if o.Searcher == nil && o.Events == nil {
		c := newClient(r.t, r.srv, "", "", ua)
		o.Searcher, o.Events = c, c
	}
	o.Publisher, o.Dedupe, o.Metrics = r.pub, r.dd, m
	if o.Keys.Tenant == "" {
		o.Keys = r.keys
	}
	if o.Redis == nil {
		o.Redis = r.rs.Client(r.t)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = time.Second
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileOff = true // tests that want reconcile set its interval
	}
	p, err := New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	return p, m
}
