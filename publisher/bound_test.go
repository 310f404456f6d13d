package publisher_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/publisher"
)

// silentJS is a JetStream whose publishes are never acknowledged: the ack
// is lost. It records when each publish was sent.
type silentJS struct {
	jetstream.JetStream
	mu    sync.Mutex
	sent  []time.Time
	never chan struct{}
}

type silentFuture struct {
	msg   *nats.Msg
	never chan struct{}
}

func (f silentFuture) Ok() <-chan *jetstream.PubAck { return make(chan *jetstream.PubAck) }
func (f silentFuture) Err() <-chan error            { return make(chan error) }
func (f silentFuture) Msg() *nats.Msg               { return f.msg }

// Conn is nil: no server, so the publisher assumes the 1 MB default max payload.
func (s *silentJS) Conn() *nats.Conn { return nil }

func (s *silentJS) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	s.mu.Lock()
	s.sent = append(s.sent, time.Now())
	s.mu.Unlock()
	return silentFuture{msg: m, never: s.never}, nil
}

// TestInFlightBoundAndTimeout: with MaxInFlight 4 and acks that never come,
// the fifth publish waits until the first one times out, and every result is
// an ErrAckTimeout, never an ack.
func TestInFlightBoundAndTimeout(t *testing.T) {
	js := &silentJS{never: make(chan struct{})}
	const timeout = 150 * time.Millisecond
	p, err := publisher.New(js, publisher.Options{Names: publisher.NamesFor("auth0"), Source: "https://t/", MaxInFlight: 4, AckTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := p.PublishUsers(context.Background(), users(10, ""))
	for i, r := range res {
		if r.Acked || !errors.Is(r.Err, publisher.ErrAckTimeout) {
			t.Fatalf("user %d: %+v", i, r)
		}
	}
	if len(js.sent) != 10 {
		t.Fatalf("%d publishes", len(js.sent))
	}
	for i := 4; i < 10; i++ {
		// Publish i needs the slot of publish i-4, freed at its timeout.
		if gap := js.sent[i].Sub(js.sent[i-4]); gap < timeout {
			t.Fatalf("publish %d sent %v after publish %d: the in-flight bound of 4 was exceeded", i, gap, i-4)
		}
	}
	if el := time.Since(start); el < 3*timeout {
		t.Fatalf("returned after %v", el)
	}
}
