package workercmd

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
)

// drainNATS drains nc at shutdown (subscriptions finish what they hold,
// pending publishes are flushed) and waits for it to close until ctx ends.
// The connection's own closed handler (connect.NATS logs the close with its
// last error, e.g. a drain timeout) still runs; a drain that cannot start
// is logged here, since publishes may then be lost.
func drainNATS(ctx context.Context, nc *nats.Conn, log *slog.Logger) {
	closed := make(chan struct{})
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		close(closed)
	})
	if err := nc.Drain(); err != nil {
		log.Warn("nats drain failed; unflushed publishes may be lost", "err", err)
		return
	}
	select {
	case <-closed:
	case <-ctx.Done():
		log.Warn("nats drain did not finish within the shutdown budget")
	}
}
