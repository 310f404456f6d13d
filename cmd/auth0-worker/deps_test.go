package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBinaryLinksNoServers: the production binary links neither
// test code nor the servers of the demo and the tests (they belong to
// cmd/auth0-dev and the test helpers), nor gRPC. A new import that drags one
// in fails here, naming the package.
func TestProductionBinaryLinksNoServers(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed only %d packages: %q", len(deps), out)
	}
	forbidden := []string{"testing", "github.com/alicebob/miniredis", "github.com/yuin/gopher-lua",
		"github.com/nats-io/nats-server", "github.com/auth0-worker/auth0-worker/emulator",
		"github.com/auth0-worker/auth0-worker/internal/test", // testnats, testredis, testwait, testproc
		"github.com/santhosh-tekuri/jsonschema",              // the worker publishes its schemas; validating them is for tests and callers
		"google.golang.org/grpc",                             // OTLP goes over HTTP; otlptracehttp's collector package linked 11 MB of gRPC
		"go.opentelemetry.io/otel/exporters"}                 // internal/tracing exports itself (its test checks it against otlptracehttp)
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") || (strings.HasSuffix(f, "/test") && strings.HasPrefix(d, f)) {
				t.Errorf("auth0-worker links %s", d)
			}
		}
	}
}
