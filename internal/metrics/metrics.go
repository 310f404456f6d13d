// Package metrics defines every Prometheus metric (README "Operations") in one
// place, on a registry of its own, so the poller, the consumer, the Auth0
// client observer and the HTTP server share one set of collectors.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the collectors. A nil *Metrics is valid and records nothing,
// so packages can take one optionally.
type Metrics struct {
	Registry *prometheus.Registry

	UsersPublished          *prometheus.CounterVec // source, type
	DedupeSkipped           prometheus.Counter
	ReconcileFound          prometheus.Counter
	PollCycles              *prometheus.CounterVec // source, outcome
	LastPollSuccess         prometheus.Gauge
	LastPublish             prometheus.Gauge
	EventLag                *prometheus.HistogramVec // type
	WebhookRequests         *prometheus.CounterVec   // status
	SourceActive            *prometheus.GaugeVec     // source
	Auth0Requests           *prometheus.CounterVec   // op, status
	Auth0RateLimitRemaining prometheus.Gauge
	Commands                *prometheus.CounterVec   // command, transport, outcome
	CommandDuration         *prometheus.HistogramVec // command
	DLQ                     *prometheus.CounterVec   // command
	CommandsDropped         prometheus.Counter
	Leader                  prometheus.Gauge
	LeaseChanges            prometheus.Counter
	EventsTruncated         prometheus.Counter
	UsersInvalid            *prometheus.CounterVec // reason
}

// New creates the collectors on a new registry (with Go and process collectors).
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m.UsersPublished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_users_published_total", Help: "User events published to JetStream, by source (events, search, reconcile, webhook) and type (created, updated, deleted)."}, []string{"source", "type"})
	m.DedupeSkipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "auth0_worker_dedupe_skipped_total", Help: "Users skipped because their event id was already published."})
	m.ReconcileFound = prometheus.NewCounter(prometheus.CounterOpts{Name: "auth0_worker_reconcile_found_total", Help: "Users the reconcile search found that the events stream had not delivered."})
	m.PollCycles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_poll_cycles_total", Help: "Search poll cycles, or events connections, by source and outcome."}, []string{"source", "outcome"})
	m.LastPollSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "auth0_worker_last_poll_success_timestamp_seconds", Help: "Unix time of the last successful poll cycle or events message."})
	m.LastPublish = prometheus.NewGauge(prometheus.GaugeOpts{Name: "auth0_worker_last_publish_timestamp_seconds", Help: "Unix time of the last acknowledged publish."})
	m.EventLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auth0_worker_event_lag_seconds", Help: "Publish time minus the event's own time (created_at, updated_at or deleted_at), by type.", Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}, []string{"type"})
	m.WebhookRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_webhook_requests_total", Help: "Requests to the Auth0 Event Streams receiver, by HTTP status answered."}, []string{"status"})
	m.SourceActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "auth0_worker_source_active", Help: "1 for a source that currently runs (the poller registry names them: events, search, reconcile, webhook)."}, []string{"source"})
	m.Auth0Requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_auth0_requests_total", Help: "HTTP requests to Auth0 by operation and status (0 = network error)."}, []string{"op", "status"})
	m.Auth0RateLimitRemaining = prometheus.NewGauge(prometheus.GaugeOpts{Name: "auth0_worker_auth0_ratelimit_remaining", Help: "X-RateLimit-Remaining of Auth0's last response."})
	m.Commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_commands_total", Help: "Commands executed, by command, transport (svc|cmd) and outcome (ok or the error status)."}, []string{"command", "transport", "outcome"})
	m.CommandDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "auth0_worker_command_duration_seconds", Help: "Seconds from a command taken (request-reply: received, queue wait included; durable: delivered) to its outcome, Auth0 retries included.", Buckets: prometheus.DefBuckets}, []string{"command"})
	m.DLQ = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_dlq_total", Help: "Durable commands sent to the dead-letter stream."}, []string{"command"})
	m.CommandsDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "auth0_worker_commands_dropped_total", Help: "Request-reply commands NATS dropped before the worker saw them (slow-consumer pending limits)."})
	m.Leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "auth0_worker_leader", Help: "1 while this process holds the poller lease."})
	m.LeaseChanges = prometheus.NewCounter(prometheus.CounterOpts{Name: "auth0_worker_lease_changes_total", Help: "Times this process gained or lost the poller lease."})
	m.EventsTruncated = prometheus.NewCounter(prometheus.CounterOpts{Name: "auth0_worker_events_truncated_total", Help: "Events published with data reduced (auth0truncated) because the whole user exceeded the NATS max payload."})
	m.UsersInvalid = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auth0_worker_users_invalid_total", Help: "Unusable users (and oversized Events API messages) dead-lettered on <prefix>.dlq.users.invalid, by reason."}, []string{"reason"})
	for _, c := range []prometheus.Collector{m.UsersPublished, m.DedupeSkipped, m.ReconcileFound, m.PollCycles, m.LastPollSuccess, m.LastPublish, m.EventLag, m.WebhookRequests, m.SourceActive, m.Auth0Requests, m.Auth0RateLimitRemaining, m.Commands, m.CommandDuration, m.DLQ, m.CommandsDropped, m.Leader, m.LeaseChanges, m.EventsTruncated, m.UsersInvalid} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Published records len(ats) acknowledged publishes of events of type typ
// (created, updated, deleted) whose own times are ats (zero = unknown). A
// batch costs one clock reading and one label lookup per metric, not one
// per event.
func (m *Metrics) Published(source, typ string, ats []time.Time) {
	if m == nil || len(ats) == 0 {
		return
	}
	now := time.Now()
	m.UsersPublished.WithLabelValues(source, typ).Add(float64(len(ats)))
	m.LastPublish.Set(float64(now.UnixNano()) / 1e9)
	lag := m.EventLag.WithLabelValues(typ)
	for _, at := range ats {
		if !at.IsZero() {
			lag.Observe(now.Sub(at).Seconds())
		}
	}
}

// Webhook records one receiver answer.
func (m *Metrics) Webhook(status int) {
	if m != nil {
		m.WebhookRequests.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// Truncated records one event published truncated.
func (m *Metrics) Truncated() {
	if m != nil {
		m.EventsTruncated.Inc()
	}
}

// Invalid records one dead-lettered unusable user.
func (m *Metrics) Invalid(reason string) {
	if m != nil {
		m.UsersInvalid.WithLabelValues(reason).Inc()
	}
}

// Request implements auth0.Observer.
func (m *Metrics) Request(op string, status int) {
	if m == nil {
		return
	}
	m.Auth0Requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
}

// RateLimit implements auth0.Observer.
func (m *Metrics) RateLimit(remaining int) {
	if m == nil {
		return
	}
	m.Auth0RateLimitRemaining.Set(float64(remaining))
}
