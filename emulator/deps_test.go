package emulator

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEmulatorImportsNoWorkerPackage: the emulator stands for Auth0, so it
// shares no code with the worker but Auth0's wire formats and plain HTTP
// plumbing (each allowed package says which); in particular not the auth0
// client it is tested against.
func TestEmulatorImportsNoWorkerPackage(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the emulator's dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/auth0-worker/auth0-worker/"
	allowed := map[string]bool{
		module + "emulator":         true,
		module + "internal/sse":     true, // the SSE framing
		module + "internal/form":    true, // the form body reading
		module + "internal/httpbuf": true, // a buffering http.ResponseWriter, shared with internal/contract
	}
	n := 0
	for _, d := range strings.Fields(string(out)) {
		n++
		if strings.HasPrefix(d, module) && !allowed[d] {
			t.Errorf("the emulator imports %s", d)
		}
	}
	if n < 20 {
		t.Fatalf("go list -deps printed only %d packages: %q", n, out)
	}
}
