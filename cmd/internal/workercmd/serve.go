package workercmd

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Running is what a caller of Serve learns once the worker takes work.
type Running struct {
	NC       *nats.Conn // the worker's own connection
	Names    publisher.Names
	HTTPAddr string // host:port of /healthz, /readyz and /metrics
}

// Serve runs the full worker (mode "run") for cfg until ctx ends, as
// `auth0-worker run` does; started, if set, is called once it takes work.
// cmd/auth0-dev runs the worker this way next to its embedded servers.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, started func(Running)) error {
	var cb func(*worker)
	if started != nil {
		cb = func(w *worker) { started(Running{NC: w.nc, Names: w.names, HTTPAddr: w.http.Addr()}) }
	}
	return serveWorker(ctx, cfg, "run", log, cb)
}
