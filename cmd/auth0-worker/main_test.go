package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/cmd/internal/workercmd"
	"github.com/auth0-worker/auth0-worker/internal/testproc"
)

// The test binary doubles as the auth0-worker binary (testproc): tests that
// need a real child process (SIGKILL, SIGTERM) start it with testkit.Start or testkit.Launch.
func TestMain(m *testing.M) { testproc.Main(m, main) }

func runCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = workercmd.Main(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersionAndUnknownSubcommand(t *testing.T) {
	code, out, _ := runCapture(t, "version")
	if code != 0 || !strings.HasPrefix(out, "auth0-worker ") {
		t.Fatalf("version: code %d out %q", code, out)
	}
	code, _, errOut := runCapture(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown subcommand "frobnicate"`) {
		t.Fatalf("unknown subcommand: code %d stderr %q", code, errOut)
	}
	// The demo is its own command; the old subcommand says where it went.
	code, _, errOut = runCapture(t, "dev")
	if code != 2 || !strings.Contains(errOut, "go run ./cmd/auth0-dev") {
		t.Fatalf("dev: code %d stderr %q", code, errOut)
	}
}
