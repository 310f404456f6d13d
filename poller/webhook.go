package poller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/limits"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// SourceWebhook is the Auth0 Event Streams receiver: a push source on every
// replica (README "User life cycle").
const SourceWebhook = "webhook"

// WebhookPath is the one path the receiver serves.
const WebhookPath = "/auth0/events"

// Dead-letter reasons of the receiver (besides the auth0.Reason* of a bad
// user object).
const (
	ReasonWebhookTooLarge    = "webhook_body_too_large"
	ReasonWebhookNotEvent    = "webhook_not_cloudevent"
	ReasonWebhookContentType = "webhook_content_type"
)

// WebhookOptions configure the receiver (WEBHOOK_*). Field comments give the
// default.
type WebhookOptions struct {
	// Addr is WEBHOOK_ADDR, host:port. Default "" = no receiver.
	Addr string
	// Listener, when set, is used instead of listening on Addr (tests,
	// socket activation).
	Listener net.Listener
	// BearerToken, or BasicUser + BasicPassword: the credentials the Auth0
	// event stream sends (exactly one kind). Required with Addr.
	BearerToken, BasicUser, BasicPassword string
	// TLSCert and TLSKey serve TLS (file paths). Default none.
	TLSCert, TLSKey string
	// MaxBody is the largest body read and published. Default
	// DefaultWebhookMaxBody.
	MaxBody int64
	// MaxConcurrent bounds requests handled at once. Default
	// DefaultWebhookMaxConcurrent.
	MaxConcurrent int
	// SlotWait is how long a request waits for a slot before 503. Default
	// DefaultWebhookSlotWait.
	SlotWait time.Duration
	// PublishWait bounds the JetStream and Redis work of one request; past
	// it, 503 (Auth0 retries). Default DefaultWebhookPublishWait.
	PublishWait time.Duration
	// ReadHeaderTimeout and ReadTimeout (headers and body) bound slow
	// clients. Defaults DefaultWebhookReadHeaderTimeout and
	// DefaultWebhookReadTimeout.
	ReadHeaderTimeout, ReadTimeout time.Duration
}

// Defaults of WebhookOptions fields left zero.
const (
	// DefaultWebhookMaxBody: a user may hold 2 × 16 MB of metadata.
	DefaultWebhookMaxBody           = 40 << 20
	DefaultWebhookMaxConcurrent     = 8
	DefaultWebhookSlotWait          = 5 * time.Second
	DefaultWebhookPublishWait       = 10 * time.Second
	DefaultWebhookReadHeaderTimeout = 10 * time.Second
	DefaultWebhookReadTimeout       = 60 * time.Second
)

func (o *WebhookOptions) enabled() bool { return o.Addr != "" || o.Listener != nil }

func (o *WebhookOptions) validate() error {
	if !o.enabled() {
		return nil
	}
	basic := o.BasicUser != "" || o.BasicPassword != ""
	switch {
	case o.BearerToken == "" && !basic:
		return errors.New("webhook options: BearerToken or BasicUser+BasicPassword is required with Addr")
	case o.BearerToken != "" && basic:
		return errors.New("webhook options: set BearerToken or basic credentials, not both")
	case basic && (o.BasicUser == "" || o.BasicPassword == ""):
		return errors.New("webhook options: BasicUser and BasicPassword go together")
	case (o.TLSCert == "") != (o.TLSKey == ""):
		return errors.New("webhook options: TLSCert and TLSKey go together")
	}
	limits.FillPositive(&o.MaxBody, DefaultWebhookMaxBody)
	limits.FillPositive(&o.MaxConcurrent, DefaultWebhookMaxConcurrent)
	limits.FillPositive(&o.SlotWait, DefaultWebhookSlotWait)
	limits.FillPositive(&o.PublishWait, DefaultWebhookPublishWait)
	limits.FillPositive(&o.ReadHeaderTimeout, DefaultWebhookReadHeaderTimeout)
	limits.FillPositive(&o.ReadTimeout, DefaultWebhookReadTimeout)
	return nil
}

func init() {
	Register(Registration{Name: SourceWebhook, Mode: Push, New: func(p *Poller) (Source, error) {
		if !p.opts.Webhook.enabled() {
			return nil, nil
		}
		r := newReceiver(p)
		p.mu.Lock()
		p.recv = r
		p.mu.Unlock()
		return r, nil
	}})
}

// receiver is the http.Handler of POST /auth0/events.
type receiver struct {
	p     *Poller
	o     WebhookOptions
	log   *slog.Logger
	types []string
	slots chan struct{}
	sink  Sink
	queue chan batch // requests waiting for a batcher
	// want is SHA-256 of the expected Authorization credential (bearer
	// token, or user:password): compared in constant time whatever the
	// length of what was sent.
	want [32]byte
}

func newReceiver(p *Poller) *receiver {
	o := p.opts.Webhook
	r := &receiver{p: p, o: o, log: p.log, types: p.opts.Types, slots: make(chan struct{}, o.MaxConcurrent), queue: make(chan batch)}
	if o.BearerToken != "" {
		r.want = sha256.Sum256([]byte(o.BearerToken))
	} else {
		r.want = sha256.Sum256([]byte(o.BasicUser + ":" + o.BasicPassword))
	}
	return r
}

// Run serves until ctx ends, then shuts the server down (requests in flight
// get a few seconds to finish).
func (r *receiver) Run(ctx context.Context, sink Sink) error {
	r.sink = sink
	bctx, stopBatchers := context.WithCancel(context.WithoutCancel(ctx))
	var bwg sync.WaitGroup
	defer func() { stopBatchers(); bwg.Wait() }()
	for range batchers {
		bwg.Add(1)
		go func() { defer bwg.Done(); r.batcher(bctx) }()
	}
	ln := r.o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", r.o.Addr); err != nil {
			return fmt.Errorf("receiver: listen on %s (WEBHOOK_ADDR): %w", r.o.Addr, err)
		}
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: r.o.ReadHeaderTimeout, ReadTimeout: r.o.ReadTimeout,
		WriteTimeout: r.o.ReadTimeout + r.o.SlotWait + r.o.PublishWait, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)}
	if r.p.m != nil {
		r.p.m.SourceActive.WithLabelValues(SourceWebhook).Set(1)
		defer r.p.m.SourceActive.WithLabelValues(SourceWebhook).Set(0)
	}
	r.log.Info("receiver: listening for Auth0 Event Streams", "addr", ln.Addr().String(), "path", WebhookPath, "tls", r.o.TLSCert != "", "event_types", r.types)
	errc := make(chan error, 1)
	go func() {
		if r.o.TLSCert != "" {
			errc <- srv.ServeTLS(ln, r.o.TLSCert, r.o.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("receiver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	status := r.serve(w, req)
	if r.p.m != nil {
		r.p.m.Webhook(status)
	}
}

// answer writes status with no body and returns it.
func answer(w http.ResponseWriter, status int) int {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(status)
	return status
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) int {
	if req.URL.Path != WebhookPath {
		return answer(w, http.StatusNotFound)
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return answer(w, http.StatusMethodNotAllowed)
	}
	// Before anything is read: an unauthenticated body is never looked at.
	if !r.authorized(req) {
		w.Header().Set("Connection", "close")
		return answer(w, http.StatusUnauthorized)
	}
	t := time.NewTimer(r.o.SlotWait)
	select {
	case r.slots <- struct{}{}:
		t.Stop()
		defer func() { <-r.slots }()
	case <-t.C:
		return answer(w, http.StatusServiceUnavailable)
	case <-req.Context().Done():
		t.Stop()
		return answer(w, http.StatusServiceUnavailable)
	}
	users, ignored, err := r.read(w, req)
	if err != nil {
		return answer(w, http.StatusServiceUnavailable) // the body could not be read: let Auth0 retry
	}
	if len(users) == 0 {
		r.log.Debug("receiver: no wanted event in the request", "ignored", ignored)
		return answer(w, http.StatusNoContent)
	}
	done, err := r.publish(req.Context(), users)
	if err != nil || done < len(users) {
		r.log.Warn("receiver: events not stored yet; answered 503 (Auth0 retries)", "events", len(users), "stored", done, "err", err)
		return answer(w, http.StatusServiceUnavailable)
	}
	if slices.ContainsFunc(users, func(u auth0.User) bool { return u.Problem != nil }) {
		return answer(w, http.StatusAccepted) // dead-lettered: retrying would not help
	}
	return answer(w, http.StatusNoContent)
}

// batch is one request's events on their way through a shared pipeline
// batch.
type batch struct {
	users []auth0.User
	res   chan batchDone
}

type batchDone struct {
	done int
	err  error
}

// batchMax bounds the events of one shared pipeline batch.
const batchMax = 512

// publish hands users to the batchers and waits for the outcome, at most
// PublishWait. Concurrent requests share one dedupe round trip and one
// JetStream flush (group commit): a request costs its share of a batch,
// not three round trips of its own.
func (r *receiver) publish(ctx context.Context, users []auth0.User) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.PublishWait)
	defer cancel()
	b := batch{users: users, res: make(chan batchDone, 1)}
	select {
	case r.queue <- b:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case d := <-b.res:
		return d.done, d.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// batcher takes the first waiting request and every other one already
// queued (up to batchMax events), runs them through the pipeline as one
// batch, and tells each request how far its own events got.
func (r *receiver) batcher(ctx context.Context) {
	for {
		var bs []batch
		n := 0
		select {
		case b := <-r.queue:
			bs, n = append(bs, b), len(b.users)
		case <-ctx.Done():
			return
		}
	more:
		for n < batchMax {
			select {
			case b := <-r.queue:
				bs, n = append(bs, b), n+len(b.users)
			default:
				break more
			}
		}
		all := make([]auth0.User, 0, n)
		for _, b := range bs {
			all = append(all, b.users...)
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.PublishWait)
		done, err := r.sink.Publish(pctx, all)
		cancel()
		start := 0
		for _, b := range bs {
			// The done prefix: a request is through when all of its events are.
			got := min(max(done-start, 0), len(b.users))
			e := err
			if got == len(b.users) {
				e = nil
			}
			b.res <- batchDone{got, e}
			start += len(b.users)
		}
	}
}

// batchers run at once: one fills while others wait for acks.
const batchers = 8

// authorized compares the Authorization header with the configured
// credential in constant time (hashes of equal length).
func (r *receiver) authorized(req *http.Request) bool {
	var got string
	if r.o.BearerToken != "" {
		h := req.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(tok)
	} else {
		u, pw, ok := req.BasicAuth()
		if !ok {
			return false
		}
		got = u + ":" + pw
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], r.want[:]) == 1
}

// read reads the body and turns it into users to publish: wanted events
// become users with their Kind and EventTime; unusable content becomes a
// user with Problem set (dead-lettered by the pipeline); unwanted types
// are counted in ignored. err only when the body could not be read.
func (r *receiver) read(w http.ResponseWriter, req *http.Request) (users []auth0.User, ignored int, err error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.o.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		w.Header().Set("Connection", "close")
		return []auth0.User{unusable(body[:min(len(body), 1<<20)], ReasonWebhookTooLarge, fmt.Sprintf("body over %d bytes", r.o.MaxBody))}, 0, nil
	case err != nil:
		return nil, 0, err
	}
	if mt, _, perr := mime.ParseMediaType(req.Header.Get("Content-Type")); perr != nil || (mt != "application/json" && mt != "application/cloudevents+json") {
		return []auth0.User{unusable(body, ReasonWebhookContentType, fmt.Sprintf("Content-Type %q: want application/json or application/cloudevents+json", clipStr(req.Header.Get("Content-Type"), 100)))}, 0, nil
	}
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &raws) != nil {
			return []auth0.User{unusable(body, ReasonWebhookNotEvent, "not a JSON array of CloudEvents")}, 0, nil
		}
	} else {
		raws = []json.RawMessage{body}
	}
	for _, raw := range raws {
		u, wanted := r.event(raw)
		if !wanted {
			ignored++
			continue
		}
		users = append(users, u)
	}
	return users, ignored, nil
}

// event decodes one CloudEvent as Auth0 sends it: type, time and
// data.object the user. wanted is false for a usable event of a type not in
// EVENT_TYPES.
func (r *receiver) event(raw []byte) (u auth0.User, wanted bool) {
	var ce struct {
		SpecVersion string `json:"specversion"`
		Type        string `json:"type"`
		Time        string `json:"time"`
		Data        struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &ce); err != nil {
		return unusable(raw, ReasonWebhookNotEvent, "not a CloudEvent JSON object"), true
	}
	if ce.Type == "" || len(ce.Data.Object) == 0 || ce.Data.Object[0] != '{' {
		return unusable(raw, ReasonWebhookNotEvent, "no type or no data.object"), true
	}
	if !slices.Contains(r.types, ce.Type) {
		return auth0.User{}, false
	}
	u = auth0.DecodeUser(ce.Data.Object)
	if ce.Type != publisher.TypeCreated {
		u.Kind, u.EventTime = ce.Type, ce.Time
	}
	if u.Problem == nil {
		// Known now, so the request can answer 202 for it (the pipeline
		// batch is a copy shared with other requests).
		u.Problem = publisher.CheckKind(u)
	}
	return u, true
}

// unusable is content that cannot become an event, as a user the pipeline
// dead-letters (Dlq-Source: webhook).
func unusable(raw []byte, reason, detail string) auth0.User {
	return auth0.User{Raw: append(json.RawMessage(nil), raw...), Problem: &auth0.UserProblem{Reason: reason, Detail: detail}}
}

func clipStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
