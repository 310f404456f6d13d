// Command auth0-worker bridges an Auth0 tenant and NATS: it publishes one
// user.created CloudEvent per new Auth0 user to JetStream and executes user
// commands received over NATS. See README.md and DESIGN.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/auth0-worker/auth0-worker/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: auth0-worker [run|poll|serve|dev|check|version] [flags]

  run      poller + command API + HTTP (default)
  poll     only the trigger side (new users → JetStream)
  serve    only the command side (NATS request-reply + durable commands)
  dev      zero set-up demo: embedded NATS, Redis, Auth0 emulator and the worker
  check    verify configuration, Auth0 access, NATS, JetStream and Redis
  version  print the version

Configuration comes from the environment (see README.md); flags of the same
meaning override it, e.g. --nats-url for NATS_URL.
`

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs one subcommand and returns the process exit code.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		cmd, args = "help", args[1:]
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run", "poll", "serve":
		err = runWorker(ctx, cmd, args, stderr)
	case "dev":
		err = runDev(ctx, args, stdout, stderr)
	case "check":
		err = runCheck(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "auth0-worker", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		fmt.Fprintln(stdout)
		config.Usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "auth0-worker: unknown subcommand %q\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, "auth0-worker:", ee.err)
		return ee.code
	}
	fmt.Fprintln(stderr, "auth0-worker:", err)
	return 1
}
