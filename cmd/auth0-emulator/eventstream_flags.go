package main

// Flags of the emulator's event streams (webhook deliveries): the default
// delivery knobs of every stream, and optionally one stream created at start
// (what `auth0-dev` and a local receiver need without an admin call).

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

// streamOptions is the stream created at start (none when endpoints is empty).
type streamOptions struct {
	endpoints string // comma-separated; the 2nd and later go to WebhookEndpoints
	bearer    string
	basic     string // user:password
	types     string // comma-separated event types
}

// secretFlags never have their values printed in an error.
var secretFlags = map[string]bool{"client": true, "event-stream-bearer-token": true, "event-stream-basic": true}

func eventStreamFlags(fs *flag.FlagSet, d *emulator.DeliveryKnobs, s *streamOptions) {
	fs.IntVar(&d.MaxAttempts, "webhook-max-attempts", 12, "attempts per webhook delivery before it is failed")
	fs.DurationVar(&d.RetryBase, "webhook-retry-base", time.Second, "wait after a delivery's first failed attempt, doubled after each further one")
	fs.DurationVar(&d.RetryMax, "webhook-retry-max", 5*time.Minute, "longest wait between attempts")
	fs.DurationVar(&d.Timeout, "webhook-timeout", 10*time.Second, "timeout of one webhook POST")
	fs.IntVar(&d.DisableAfter, "webhook-disable-after", 500, "consecutive failed attempts that disable a stream")
	fs.IntVar(&d.DisableAfterTotal, "webhook-disable-after-total", 5000, "failed attempts in all that disable a stream")
	fs.IntVar(&d.Concurrency, "webhook-concurrency", 4, "webhook POSTs in flight per stream")
	fs.DurationVar(&d.Delay, "webhook-delay", 0, "wait before every webhook POST")
	fs.IntVar(&d.DuplicateEvery, "webhook-duplicate-every", 0, "deliver every Nth event twice (0 = never)")
	fs.Float64Var(&d.DuplicateProbability, "webhook-duplicate-probability", 0, "probability that an event is delivered twice")
	fs.IntVar(&d.ReorderWindow, "webhook-reorder-window", 0, "hold this many events back and deliver them shuffled (0 or 1 = in order)")
	fs.DurationVar(&d.ReorderHold, "webhook-reorder-hold", 50*time.Millisecond, "longest hold of an incomplete reorder window")
	fs.StringVar(&s.endpoints, "event-stream-endpoints", "", "create an event stream at start delivering to these webhook URLs (comma-separated, taken in turn)")
	fs.StringVar(&s.bearer, "event-stream-bearer-token", "", "its webhook_authorization: bearer token")
	fs.StringVar(&s.basic, "event-stream-basic", "", "its webhook_authorization: basic user:password (instead of a bearer token)")
	fs.StringVar(&s.types, "event-stream-types", "user.created,user.updated,user.deleted", "its subscriptions (comma-separated event types)")
}

// config is the EventStreamConfig of the stream to create at start; ok is
// false when none was asked for. Errors never hold a credential.
func (s streamOptions) config() (cfg emulator.EventStreamConfig, ok bool, err error) {
	if s.endpoints == "" {
		if s.bearer != "" || s.basic != "" {
			return cfg, false, errors.New("--event-stream-bearer-token or --event-stream-basic needs --event-stream-endpoints (AUTH0_EMULATOR_EVENT_STREAM_ENDPOINTS), e.g. http://127.0.0.1:8443/auth0/events")
		}
		return cfg, false, nil
	}
	eps := splitList(s.endpoints)
	cfg = emulator.EventStreamConfig{Name: "emulator-start", Subscriptions: splitList(s.types), WebhookEndpoint: eps[0], WebhookEndpoints: eps[1:]}
	switch {
	case s.bearer != "" && s.basic != "":
		return cfg, false, errors.New("--event-stream-bearer-token and --event-stream-basic exclude each other; give one")
	case s.bearer != "":
		cfg.WebhookAuthorization = emulator.WebhookAuthorization{Method: emulator.WebhookAuthBearer, Token: s.bearer}
	case s.basic != "":
		user, pass, found := strings.Cut(s.basic, ":")
		if !found {
			return cfg, false, errors.New("--event-stream-basic (AUTH0_EMULATOR_EVENT_STREAM_BASIC) must be user:password")
		}
		cfg.WebhookAuthorization = emulator.WebhookAuthorization{Method: emulator.WebhookAuthBasic, Username: user, Password: pass}
	default:
		return cfg, false, errors.New("--event-stream-endpoints needs --event-stream-bearer-token or --event-stream-basic (the receiver's credentials)")
	}
	// The emulator validates the rest (URLs, types) and names the field.
	if err := cfg.Check(); err != nil {
		return cfg, false, fmt.Errorf("--event-stream-*: %v", err)
	}
	return cfg, true, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
