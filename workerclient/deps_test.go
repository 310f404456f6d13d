package workerclient_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnlyOnNATS: services depend on this package, so it must not
// drag in the worker (or Redis, or a server): outside the standard library
// it may use nats.go and what nats.go itself needs.
func TestDependsOnlyOnNATS(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	allowed := []string{"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid",
		"github.com/klauspost/compress", "golang.org/x/crypto", "golang.org/x/sys",
		"github.com/auth0-worker/auth0-worker/workerclient"}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list printed too little: %q", out)
	}
	for _, d := range deps {
		ok := false
		for _, a := range allowed {
			ok = ok || d == a || strings.HasPrefix(d, a+"/")
		}
		if !ok {
			t.Errorf("workerclient depends on %s", d)
		}
	}
}
