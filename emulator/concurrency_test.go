package emulator

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
)

// checkStore verifies the store's indexes agree with each other.
func checkStore(t *testing.T, e *Emulator) {
	t.Helper()
	s := e.store
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.sorted) != len(s.byID) {
		t.Fatalf("sorted has %d users, byID %d", len(s.sorted), len(s.byID))
	}
	if !sort.SliceIsSorted(s.sorted, func(i, j int) bool { return less(s.sorted[i], s.sorted[j]) }) {
		t.Fatal("sorted index out of order")
	}
	for _, u := range s.sorted {
		if s.byID[u.id] != u {
			t.Fatalf("%s in sorted but not in byID", u.id)
		}
	}
	n := 0
	for key, list := range s.byEmail {
		for _, u := range list {
			n++
			if s.byID[u.id] != u || u.emailKey != key {
				t.Fatalf("stale email index entry %s -> %s", key, u.id)
			}
		}
	}
	if n != len(s.byID) {
		t.Fatalf("email index holds %d users, byID %d", n, len(s.byID))
	}
}

// TestConcurrentTraffic runs creates, updates, reads, searches and deletes
// from many goroutines (run with -race) and checks the indexes stay
// consistent and every surviving user is intact.
func TestConcurrentTraffic(t *testing.T) {
	// No contract middleware here: it serializes validation and this test
	// is about concurrent access to the store.
	s := startServer(t, Config{})
	const workers, perWorker = 8, 20
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := newClient(t, s)
			for i := 0; i < perWorker; i++ {
				email := fmt.Sprintf("w%d-%d@example.com", w, i)
				r := c.do("POST", "/api/v2/users", createBody(email))
				if r.status != 201 {
					errs <- fmt.Sprintf("create %s: %d", email, r.status)
					continue
				}
				id := r.obj(t)["user_id"].(string)
				path := "/api/v2/users/" + url.PathEscape(id)
				if r := c.do("PATCH", path, map[string]any{"user_metadata": map[string]any{"i": i}, "email": fmt.Sprintf("moved-%d-%d@example.com", w, i)}); r.status != 200 {
					errs <- fmt.Sprintf("patch %s: %d %s", id, r.status, r.body)
				}
				if r := c.do("GET", "/api/v2/users?q="+url.QueryEscape("email:moved*")+"&per_page=5", nil); r.status != 200 {
					errs <- fmt.Sprintf("search: %d", r.status)
				}
				if i%3 == 0 {
					if r := c.do("DELETE", path, nil); r.status != 204 {
						errs <- fmt.Sprintf("delete: %d", r.status)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	checkStore(t, s.Emulator)
	want := workers * (perWorker - (perWorker+2)/3)
	if got := s.Emulator.UserCount(); got != want {
		t.Fatalf("count %d, want %d", got, want)
	}
}
