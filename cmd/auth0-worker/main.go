// Command auth0-worker bridges an Auth0 tenant and NATS: it publishes one
// user.created CloudEvent per new Auth0 user to JetStream and executes user
// commands received over NATS. See README.md and docs/architecture.md.
//
// This is the production binary: it links no NATS server, no in-process
// Redis, no emulator and no testing code (deps_test.go keeps it so); the
// zero-set-up demo is cmd/auth0-dev.
package main

import (
	"os"

	"github.com/auth0-worker/auth0-worker/cmd/internal/workercmd"
)

func main() {
	ctx, stop := workercmd.SignalContext(os.Stderr)
	code := workercmd.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
