package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestDurableChainRecoversAPanic: a panic in a step of the chain outside
// the executor's own recovery (here the command's decoder, which
// validateBody runs) is caught by recoverer: the message is nak'ed and its
// redelivery completes. Without recoverer the panic kills the test binary.
func TestDurableChainRecoversAPanic(t *testing.T) {
	var decodes atomic.Int32
	flaky := Command{Name: "test.flaky", Transports: TransportBoth,
		Handler: Decoded(func(data []byte) (string, error) {
			if decodes.Add(1) == 1 {
				panic("decoder bug")
			}
			return string(data), nil
		}, func(context.Context, Call, string) ([]byte, error) { return []byte(`{"ok":true}`), nil })}
	e := newEnv(t, envConfig{opts: func(o *Options) { o.Commands = append(Commands(), flaky) }})
	e.publishCmd("test.flaky", "flaky-1", `{}`)
	r := e.waitResultUnchecked("flaky-1")
	if r.Header.Get(HeaderErrorCode) != "" || string(r.Data) != `{"ok":true}` {
		t.Fatalf("result after a recovered panic: %v %s", r.Header, r.Data)
	}
	if n := decodes.Load(); n < 3 { // panicked, then validated and run on the redelivery
		t.Fatalf("decoder ran %d times, want ≥ 3", n)
	}
	e.waitSettled(10 * time.Second)
}
