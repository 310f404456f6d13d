// Package sharedfiles finds the project's reference material for tests: the
// official OpenAPI subset and the recorded Auth0 traffic, from the copy in
// the repository under testdata/shared (TestCheckedInCopyMatchesShared keeps
// it equal to the project's shared folder, ../shared, where that exists).
package sharedfiles

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns the absolute path of rel inside testdata/shared of the module
// (for example "auth0/management-api-v2.users-events.oas.json"), or inside
// $AUTH0_WORKER_SHARED when that is set. The test fails (never skips) when
// the file cannot be found.
func Path(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("sharedfiles: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("sharedfiles: no go.mod above the working directory")
		}
		dir = parent
	}
	candidates := []string{filepath.Join(dir, "testdata", "shared", rel)}
	if env := os.Getenv("AUTH0_WORKER_SHARED"); env != "" {
		candidates = append([]string{filepath.Join(env, rel)}, candidates...)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			abs, _ := filepath.Abs(c)
			return abs
		}
	}
	t.Fatalf("sharedfiles: %s not found (looked in %v)", rel, candidates)
	return ""
}

// OpenAPISpec is the path of the official OpenAPI subset.
func OpenAPISpec(t testing.TB) string {
	return Path(t, "auth0/management-api-v2.users-events.oas.json")
}

// Recordings returns the paths of every recorded Auth0 exchange file.
func Recordings(t testing.TB) []string {
	t.Helper()
	dir := Path(t, "auth0/recordings")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("sharedfiles: %v", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
