// Package workercmd is the auth0-worker command: subcommands, configuration,
// wiring and shutdown. cmd/auth0-worker is its main; cmd/auth0-dev runs the
// same worker (Serve) next to embedded servers, which is why this is not
// package main. See docs/architecture.md.
package workercmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/auth0-worker/auth0-worker/config"
)

// version is set at build time with -ldflags
// "-X github.com/auth0-worker/auth0-worker/cmd/internal/workercmd.version=...".
var version = "dev"

// Version is the binary's version (the micro service's metadata carries it).
func Version() string { return version }

const usage = `usage: auth0-worker [run|poll|serve|check|version] [flags]

  run      poller + command API + HTTP (default)
  poll     only the trigger side (new users → JetStream)
  serve    only the command side (NATS request-reply + durable commands)
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

// Main runs one subcommand of auth0-worker and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
		// The demo links NATS server, an in-process Redis and the emulator;
		// the production binary must not, so it is its own command.
		fmt.Fprintln(stderr, "auth0-worker: dev is its own command now: go run ./cmd/auth0-dev")
		return 2
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
	return ExitCode("auth0-worker", err, stderr)
}

// ExitCode reports err on stderr as "prog: err" and returns the exit code
// for it: 0 for nil, the code of WithExitCode, else 1.
func ExitCode(prog string, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, prog+":", ee.err)
		return ee.code
	}
	fmt.Fprintln(stderr, prog+":", err)
	return 1
}

// WithExitCode makes ExitCode return code for err (2: bad configuration).
func WithExitCode(code int, err error) error { return &exitError{code: code, err: err} }
