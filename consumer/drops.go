package consumer

import (
	"errors"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// dropCounter counts request-reply messages nats.go dropped before the
// worker saw them (a subscription over its pending limits: a slow
// consumer), for auth0_worker_commands_dropped_total. nats.go reports a
// slow consumer once per episode; the subscription's own Dropped count
// has every message, so each reported subscription is tracked and summed.
type dropCounter struct {
	mu       sync.Mutex
	last     map[*nats.Subscription]int
	reported int
	metric   prometheus.Counter // nil: not exported
}

func newDropCounter(m prometheus.Counter) *dropCounter {
	return &dropCounter{last: map[*nats.Subscription]int{}, metric: m}
}

// watch chains an async error handler on nc that tracks every slow
// subscription whose subject starts with subjectPrefix. It must run before
// micro.AddService, which chains its own handler in front of this one.
func (d *dropCounter) watch(nc *nats.Conn, subjectPrefix string) {
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil && errors.Is(err, nats.ErrSlowConsumer) && strings.HasPrefix(sub.Subject, subjectPrefix) {
			d.mu.Lock()
			if _, ok := d.last[sub]; !ok {
				d.last[sub] = 0
			}
			d.mu.Unlock()
			d.total()
		}
		if prev != nil {
			prev(nc, sub, err)
		}
	})
}

// total returns the drops so far and brings the metric up to date.
func (d *dropCounter) total() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	sum := 0
	for sub, last := range d.last {
		if n, err := sub.Dropped(); err == nil && n > last {
			d.last[sub] = n
			last = n
		}
		sum += last
	}
	if d.metric != nil && sum > d.reported {
		d.metric.Add(float64(sum - d.reported))
	}
	d.reported = max(d.reported, sum)
	return float64(sum)
}
