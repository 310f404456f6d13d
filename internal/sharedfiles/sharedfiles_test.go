package sharedfiles

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The repository's copy under testdata/shared, which the tests read, must
// equal the project's shared folder (../shared) where that exists.
func TestCheckedInCopyMatchesShared(t *testing.T) {
	local := filepath.Join("..", "..", "testdata", "shared", "auth0")
	n := 0
	err := filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(filepath.Join("..", "..", "testdata", "shared"), p)
		want, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", rel))
		if os.IsNotExist(err) {
			return nil // no authoritative copy beside this clone
		}
		if err != nil {
			return err
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/shared/%s differs from ../shared/%s: copy it again", rel, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d files under testdata/shared/auth0", n)
	}
	// And nothing of the shared folder is missing from the copy.
	shared := filepath.Join("..", "..", "..", "shared", "auth0")
	if _, err := os.Stat(shared); err == nil {
		err = filepath.WalkDir(shared, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(filepath.Join("..", "..", "..", "shared"), p)
			if _, err := os.Stat(filepath.Join("..", "..", "testdata", "shared", rel)); err != nil {
				t.Errorf("../shared/%s has no copy under testdata/shared: copy it", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := OpenAPISpec(t); p == "" {
		t.Fatal("no OpenAPI spec found")
	}
	if r := Recordings(t); len(r) < 10 {
		t.Fatalf("found %d recordings", len(r))
	}
}
