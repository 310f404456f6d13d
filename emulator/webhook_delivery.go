package emulator

// Delivery of an event stream's events to its webhook endpoints: one
// CloudEvent per POST, retries with exponential backoff, automatic disabling
// after consecutive failures, redelivery, and the duplicate / out-of-order /
// delay knobs (DeliveryKnobs).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event's delivery to a stream (a duplicate is a delivery of
// its own, with Duplicate set).
type Delivery struct {
	ID        string            `json:"id"` // dlv_...
	EventID   string            `json:"event_id"`
	EventType string            `json:"event_type"`
	Duplicate bool              `json:"duplicate,omitempty"`
	Status    string            `json:"status"`          // pending, delivered or failed
	Error     string            `json:"error,omitempty"` // why it failed without an attempt (stream disabled)
	Attempts  []DeliveryAttempt `json:"attempts"`
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	Time       time.Time `json:"timestamp"`
	Endpoint   string    `json:"endpoint"`
	Status     string    `json:"status"`                // success or failed
	StatusCode int       `json:"status_code,omitempty"` // 0: no answer
	Error      string    `json:"error_message,omitempty"`
}

// delivery is a Delivery with what sending needs. Guarded by its stream's mu.
type delivery struct {
	Delivery
	body  []byte
	round int // failed attempts since creation or the last redelivery
}

// eventStream delivers one stream's events; Concurrency workers take
// deliveries from ready in order.
type eventStream struct {
	e       *Emulator
	id      string
	cfg     EventStreamConfig // Delivery with defaults applied
	eps     []string
	created time.Time
	client  *http.Client
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	wake    chan struct{} // cap 1: ready has work

	mu        sync.Mutex
	enabled   bool
	consec    int
	total     int
	dels      []*delivery
	byID      map[string]*delivery
	pending   int
	idle      chan struct{} // closed and replaced on every status change
	ready     []*delivery
	held      []*delivery // reorder window
	holdTimer *time.Timer
	seen      int // events offered, for DuplicateEvery
	rr        int // next endpoint
	rnd       *mrand.Rand
}

func newEventStream(e *Emulator, id string, cfg EventStreamConfig) *eventStream {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Delivery.Concurrency
	ctx, cancel := context.WithCancel(context.Background())
	s := &eventStream{
		e: e, id: id, cfg: cfg, eps: cfg.endpoints(), created: e.now().UTC(),
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is a failed delivery, as with Auth0
		}},
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1),
		enabled: true, byID: map[string]*delivery{}, idle: make(chan struct{}),
	}
	e.rndMu.Lock()
	s.rnd = mrand.New(mrand.NewPCG(e.rnd.Uint64(), e.rnd.Uint64()))
	e.rndMu.Unlock()
	for range cfg.Delivery.Concurrency {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

// stop ends the workers and aborts in-flight POSTs.
func (s *eventStream) stop() {
	s.cancel()
	s.mu.Lock()
	if s.holdTimer != nil {
		s.holdTimer.Stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

// offer takes one event of the log (the stream subscribes to its type).
func (s *eventStream) offer(typ string, evtID []byte, at time.Time, obj []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.cfg.Subscriptions, typ) {
		return
	}
	body := appendCloudEvent(nil, typ, evtID, at, obj, s.id)
	body = append(body, '}')
	k := s.cfg.Delivery
	s.seen++
	dup := (k.DuplicateEvery > 0 && s.seen%k.DuplicateEvery == 0) ||
		(k.DuplicateProbability > 0 && s.rnd.Float64() < k.DuplicateProbability)
	id := string(evtID)
	s.admitLocked(s.newDeliveryLocked(typ, id, body, false))
	if dup {
		s.admitLocked(s.newDeliveryLocked(typ, id, body, true))
	}
}

func (s *eventStream) newDeliveryLocked(typ, evtID string, body []byte, dup bool) *delivery {
	d := &delivery{
		Delivery: Delivery{ID: "dlv_" + s.alnumLocked(16), EventID: evtID, EventType: typ, Duplicate: dup, Status: DeliveryPending},
		body:     body,
	}
	s.dels = append(s.dels, d)
	s.byID[d.ID] = d
	s.pending++
	return d
}

func (s *eventStream) alnumLocked(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = evAlnum[s.rnd.IntN(len(evAlnum))]
	}
	return string(b)
}

// admitLocked queues a new delivery, through the reorder window when set.
// A disabled stream fails it at once (it can be redelivered later).
func (s *eventStream) admitLocked(d *delivery) {
	if !s.enabled {
		s.failLocked(d, "event stream disabled")
		return
	}
	w := s.cfg.Delivery.ReorderWindow
	if w <= 1 {
		s.queueLocked(d)
		return
	}
	s.held = append(s.held, d)
	if len(s.held) >= w {
		s.flushLocked()
	} else if s.holdTimer == nil {
		s.holdTimer = time.AfterFunc(s.cfg.Delivery.ReorderHold, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.flushLocked()
		})
	}
}

// flushLocked releases the held batch in an order other than its own.
func (s *eventStream) flushLocked() {
	if s.holdTimer != nil {
		s.holdTimer.Stop()
		s.holdTimer = nil
	}
	batch := s.held
	s.held = nil
	orig := slices.Clone(batch)
	s.rnd.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	if len(batch) > 1 && slices.Equal(batch, orig) {
		batch = append(batch[1:], batch[0]) // a rotation is never the identity
	}
	for _, d := range batch {
		s.queueLocked(d)
	}
}

func (s *eventStream) queueLocked(d *delivery) {
	s.ready = append(s.ready, d)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *eventStream) changedLocked() {
	close(s.idle)
	s.idle = make(chan struct{})
}

func (s *eventStream) failLocked(d *delivery, reason string) {
	d.Status, d.Error = DeliveryFailed, reason
	s.pending--
	s.changedLocked()
}

func (s *eventStream) failedCountLocked() int {
	n := 0
	for _, d := range s.dels {
		if d.Status == DeliveryFailed {
			n++
		}
	}
	return n
}

// work is one worker: it takes ready deliveries in order until the stream stops.
func (s *eventStream) work() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		var d *delivery
		if len(s.ready) > 0 {
			d = s.ready[0]
			s.ready = s.ready[1:]
			if len(s.ready) > 0 {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
		}
		s.mu.Unlock()
		if d == nil {
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		s.attempt(d)
	}
}

// attempt POSTs d once to the next endpoint and records the outcome.
func (s *eventStream) attempt(d *delivery) {
	s.mu.Lock()
	delay := s.cfg.Delivery.Delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
	s.mu.Lock()
	if d.Status != DeliveryPending {
		s.mu.Unlock()
		return
	}
	if !s.enabled {
		s.failLocked(d, "event stream disabled")
		s.mu.Unlock()
		return
	}
	ep := s.eps[s.rr%len(s.eps)]
	s.rr++
	cfg := s.cfg // UpdateEventStream replaces s.cfg, never changes it in place
	s.mu.Unlock()

	code, err := s.post(ep, d.body, cfg)
	if s.ctx.Err() != nil {
		return // stopped: the attempt did not really happen
	}
	att := DeliveryAttempt{Time: s.e.now().UTC(), Endpoint: ep, StatusCode: code, Status: "success"}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.cfg.Delivery
	if err == nil && code >= 200 && code < 300 {
		d.Attempts = append(d.Attempts, att)
		d.Status = DeliveryDelivered
		d.body = nil // only failed deliveries are sent again
		s.consec = 0
		s.pending--
		s.changedLocked()
		return
	}
	att.Status = "failed"
	if err != nil {
		att.Error = err.Error()
	} else {
		att.Error = fmt.Sprintf("HTTP %d", code)
	}
	d.Attempts = append(d.Attempts, att)
	s.consec++
	s.total++
	d.round++
	switch {
	case s.consec >= k.DisableAfter || s.total >= k.DisableAfterTotal:
		s.enabled = false
		s.failLocked(d, "")
	case d.round >= k.MaxAttempts:
		s.failLocked(d, "")
	default:
		time.AfterFunc(backoff(k, d.round), func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if d.Status == DeliveryPending && s.ctx.Err() == nil {
				s.queueLocked(d)
			}
		})
		s.changedLocked()
	}
}

// backoff is the wait after the n-th failed attempt (n ≥ 1).
func backoff(k DeliveryKnobs, n int) time.Duration {
	d := k.RetryBase
	for i := 1; i < n && d < k.RetryMax; i++ {
		d *= 2
	}
	return min(d, k.RetryMax)
}

// post sends one CloudEvent; it returns the status code, or the error when
// there was no answer.
func (s *eventStream) post(ep string, body []byte, cfg EventStreamConfig) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, cfg.Delivery.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "auth0-emulator-event-streams/1.0")
	a := cfg.WebhookAuthorization
	if a.Method == WebhookAuthBearer {
		req.Header.Set("Authorization", "Bearer "+a.Token)
	} else {
		req.SetBasicAuth(a.Username, a.Password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// redeliver queues failed deliveries again (the named ones, or all).
func (s *eventStream) redeliver(ids []string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enabled {
		return 0, fmt.Errorf("%w: %s", ErrEventStreamDisabled, s.id)
	}
	var targets []*delivery
	if len(ids) == 0 {
		for _, d := range s.dels {
			if d.Status == DeliveryFailed {
				targets = append(targets, d)
			}
		}
	}
	for _, id := range ids {
		d, ok := s.byID[id]
		if !ok || d.Status != DeliveryFailed {
			return 0, fmt.Errorf("%w: delivery %q is not a failed delivery of stream %s", ErrInvalidEventStream, id, s.id)
		}
		targets = append(targets, d)
	}
	for _, d := range targets {
		d.Status, d.Error, d.round = DeliveryPending, "", 0
		s.pending++
		s.queueLocked(d)
	}
	s.changedLocked()
	return len(targets), nil
}

func (s *eventStream) setEnabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enabled = on
	if on {
		s.consec, s.total = 0, 0
	}
	s.changedLocked()
}

func (s *eventStream) deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.dels))
	for i, d := range s.dels {
		out[i] = d.Delivery
		out[i].Attempts = slices.Clone(d.Attempts)
	}
	return out
}

func (s *eventStream) view() EventStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := EventStreamEnabled
	if !s.enabled {
		status = EventStreamDisabled
	}
	return EventStream{
		ID: s.id, Name: s.cfg.Name, Status: status, Subscriptions: slices.Clone(s.cfg.Subscriptions),
		WebhookEndpoints: slices.Clone(s.eps), AuthMethod: s.cfg.WebhookAuthorization.Method,
		Delivery: s.cfg.Delivery, CreatedAt: s.created, ConsecutiveFailures: s.consec,
		TotalFailures: s.total, Pending: s.pending,
	}
}

// appendCloudEvent appends the CloudEvent of one event without its closing
// brace (the SSE frame may add a0padding first): the one place its shape is
// written, for the Events API and the webhooks alike. Every part is fixed,
// an event type, an id, a timestamp or compact JSON, so no escaping is needed.
func appendCloudEvent(b []byte, typ string, evtID []byte, at time.Time, obj []byte, stream string) []byte {
	b = append(b, `{"specversion":"1.0","type":"`...)
	b = append(b, typ...)
	b = append(b, `","source":"`+evSource+`","id":"`...)
	b = append(b, evtID...)
	b = append(b, `","time":"`...)
	b = at.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","data":{"object":`...)
	b = append(b, obj...)
	b = append(b, `},"a0tenant":"`+evTenant+`","a0stream":"`...)
	b = append(b, stream...)
	return append(b, '"')
}

// update replaces the stream's configuration (UpdateEventStream).
func (s *eventStream) update(f func(*EventStreamConfig), defaults DeliveryKnobs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cfg
	cfg.Subscriptions = slices.Clone(cfg.Subscriptions)
	cfg.WebhookEndpoints = slices.Clone(cfg.WebhookEndpoints)
	f(&cfg)
	if err := cfg.Check(); err != nil {
		return err
	}
	if cfg.Delivery.Concurrency == 0 {
		cfg.Delivery.Concurrency = s.cfg.Delivery.Concurrency // fixed: left out = kept
	}
	cfg.Delivery = cfg.Delivery.withDefaults(defaults)
	if cfg.Delivery.Concurrency != s.cfg.Delivery.Concurrency {
		return fmt.Errorf("%w: delivery.concurrency is fixed when the stream is created", ErrInvalidEventStream)
	}
	s.cfg, s.eps = cfg, cfg.endpoints()
	if cfg.Delivery.ReorderWindow <= 1 && len(s.held) > 0 {
		s.flushLocked()
	}
	return nil
}
