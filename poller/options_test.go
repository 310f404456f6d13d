package poller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/internal/pollstart"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
)

func TestOptionsValidation(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: New does no I/O
	defer rdb.Close()
	base := func() Options {
		return Options{Searcher: &fakeSearcher{}, Events: nil, Publisher: newFakePublisher(), Dedupe: newMemDedupe(), Redis: rdb,
			Keys: rediskeys.Keys{Tenant: "t.example"}, Source: SourceSearch}
	}
	cases := []struct {
		name string
		mod  func(*Options)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(o *Options) {}, ""},
		{"no publisher", func(o *Options) { o.Publisher = nil }, "Publisher is required"},
		{"no dedupe", func(o *Options) { o.Dedupe = nil }, "Dedupe is required"},
		{"no redis", func(o *Options) { o.Redis = nil }, "Redis is required"},
		{"no tenant", func(o *Options) { o.Keys.Tenant = "" }, "Keys.Tenant is required"},
		{"bad source", func(o *Options) { o.Source = "webhook" }, `Source "webhook"`},
		{"query with events", func(o *Options) { o.Source = SourceEvents; o.Query = "email:*@x.com" }, "refused with Source events"},
		{"events without subscriber", func(o *Options) { o.Source = SourceEvents }, "Events is required"},
		{"auto with query needs no events", func(o *Options) { o.Source = SourceAuto; o.Query = "logins_count:0" }, ""},
		{"negative limit", func(o *Options) { o.Limit = -1 }, "Limit -1"},
		{"negative interval", func(o *Options) { o.Interval = -time.Second }, "Interval"},
		{"tiny lease", func(o *Options) { o.LeaseTTL = time.Millisecond }, "LeaseTTL"},
		{"bad start mode", func(o *Options) { o.Start = pollstart.Start{Mode: "yesterday"} }, `unknown mode "yesterday"`},
		{"start at the zero time", func(o *Options) { o.Start = pollstart.Start{Mode: pollstart.Time} }, ""},
		{"negative overlap", func(o *Options) { o.Overlap = -time.Second }, "Overlap -1s"},
		{"negative reconcile", func(o *Options) { o.ReconcileInterval = -time.Second }, "ReconcileInterval -1s"},
		{"start time", func(o *Options) {
			o.Start = pollstart.Start{Mode: pollstart.Time, Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
		}, ""},
		{"unknown event type", func(o *Options) { o.Types = []string{"user.created", "user.login"} }, `unknown event type "user.login"`},
		{"webhook without credentials", func(o *Options) { o.Webhook.Addr = ":8443" }, "BearerToken or BasicUser+BasicPassword is required"},
		{"webhook with both credentials", func(o *Options) {
			o.Webhook = WebhookOptions{Addr: ":8443", BearerToken: "t", BasicUser: "u", BasicPassword: "p"}
		}, "not both"},
		{"webhook basic half", func(o *Options) { o.Webhook = WebhookOptions{Addr: ":8443", BasicUser: "u"} }, "go together"},
		{"webhook tls half", func(o *Options) { o.Webhook = WebhookOptions{Addr: ":8443", BearerToken: "t", TLSCert: "c.pem"} }, "TLSCert and TLSKey"},
		{"webhook ok", func(o *Options) { o.Webhook = WebhookOptions{Addr: ":8443", BearerToken: "t"} }, ""},
		{"start all", func(o *Options) { o.Start = pollstart.Start{Mode: pollstart.All} }, ""},
		{"search needs searcher", func(o *Options) { o.Searcher = nil }, "Searcher is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.mod(&o)
			p, err := New(o)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if p.opts.Limit != 1000 || p.opts.Interval != 10*time.Second || p.opts.Overlap != 2*time.Minute ||
					p.opts.LeaseTTL != 15*time.Second || p.opts.ReconcileInterval != 10*time.Minute || p.opts.Keys.Prefix != "auth0w" {
					t.Fatalf("defaults not applied: %+v", p.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v, want one containing %q wrapping ErrInvalidOptions", err, c.want)
			}
		})
	}
}

// TestOptionsAcceptConfigBounds: the smallest values config accepts
// (internal/limits) pass New, and POLL_OVERLAP=0 (NoOverlap, as cmd maps
// it) means no overlap rather than the 2m default.
func TestOptionsAcceptConfigBounds(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: New does no I/O
	defer rdb.Close()
	p, err := New(Options{Searcher: &fakeSearcher{}, Publisher: newFakePublisher(), Dedupe: newMemDedupe(), Redis: rdb,
		Keys: rediskeys.Keys{Tenant: "t.example"}, Source: SourceSearch,
		Limit: limits.MinPollLimit, Interval: limits.MinPollInterval, LeaseTTL: limits.MinLeaseTTL, NoOverlap: true})
	if err != nil {
		t.Fatalf("New refused the bounds config accepts: %v", err)
	}
	if p.opts.Overlap != 0 || p.opts.LeaseTTL != limits.MinLeaseTTL || p.opts.Interval != limits.MinPollInterval {
		t.Fatalf("Overlap %v (want 0), LeaseTTL %v, Interval %v", p.opts.Overlap, p.opts.LeaseTTL, p.opts.Interval)
	}
	if _, err := New(Options{Searcher: &fakeSearcher{}, Publisher: newFakePublisher(), Dedupe: newMemDedupe(), Redis: rdb,
		Keys: rediskeys.Keys{Tenant: "t.example"}, Source: SourceSearch, LeaseTTL: limits.MinLeaseTTL - 1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("LeaseTTL below limits.MinLeaseTTL: err %v, want ErrInvalidOptions", err)
	}
}
