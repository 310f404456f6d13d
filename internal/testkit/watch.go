package testkit

import (
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

// Watch reads every message stream stores, as it is stored, and calls seen
// with its Nats-Msg-Id (messages without one are a test's own and skipped).
// Every such event must match its schema: a violation fails the test when it
// ends, after the reading stopped.
func Watch(t testing.TB, stream jetstream.Stream, seen func(msgID string)) {
	t.Helper()
	ctx := Context(t)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := schemacheck.Default()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var bad []string
	t.Cleanup(func() { // runs after cc.Stop (last in, first out)
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bad {
			t.Errorf("stored event breaks its schema: %s", b)
		}
	})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" {
			return
		}
		if err := v.ValidateEvent(m.Data()); err != nil {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%v: %.500s", err, m.Data()))
			mu.Unlock()
		}
		seen(id)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
}

// Repeated lists the keys counted more than once (ids stored or published
// twice).
func Repeated(counts map[string]int) []string {
	var d []string
	for id, n := range counts {
		if n > 1 {
			d = append(d, id)
		}
	}
	return d
}
