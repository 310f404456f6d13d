package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// seedBench creates n users over n/4 seconds (four per second, several in
// the same millisecond), already indexed.
func seedBench(tb testing.TB, e *Emulator, n int) time.Time {
	tb.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seeds := make([]SeedUser, n)
	for i := range seeds {
		seeds[i] = SeedUser{
			Email:     fmt.Sprintf("bench%06d@example.com", i),
			CreatedAt: base.Add(time.Duration(i/4) * time.Second),
			NoEvent:   true,
			Indexed:   true,
		}
	}
	if _, err := e.CreateUsers(seeds); err != nil {
		tb.Fatal(err)
	}
	return base
}

// BenchmarkCreatedAtRangeSearch: a created_at window search over 100,000
// users, the poller's query shape (range AND a filter, sort created_at:1,
// per_page 100, include_totals).
func BenchmarkCreatedAtRangeSearch(b *testing.B) {
	e := New(Config{})
	base := seedBench(b, e, 100_000)
	from := base.Add(10_000 * time.Second)
	run := func(b *testing.B, q string) {
		p, herr := parseSearchParams(url.Values{
			"q": {q}, "sort": {"created_at:1"}, "per_page": {"100"}, "include_totals": {"true"},
		})
		if herr != nil {
			b.Fatal(herr.message)
		}
		now := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			items, total := e.search(p, now)
			if len(items) != 100 || total == 0 {
				b.Fatalf("got %d items, total %d", len(items), total)
			}
		}
	}
	b.Run("window-1000", func(b *testing.B) {
		run(b, fmt.Sprintf("created_at:[%s TO %s}", formatTime(from), formatTime(from.Add(250*time.Second))))
	})
	b.Run("open-end-60000", func(b *testing.B) {
		run(b, fmt.Sprintf("created_at:[%s TO *] AND email:bench*", formatTime(from)))
	})
	b.Run("http-window-1000", func(b *testing.B) {
		s := &Server{Emulator: e}
		_ = s
		tok := e.IssueToken(DefaultClientID)
		q := url.Values{"q": {fmt.Sprintf("created_at:[%s TO %s}", formatTime(from), formatTime(from.Add(250*time.Second)))},
			"sort": {"created_at:1"}, "per_page": {"100"}, "include_totals": {"true"}}
		req, _ := http.NewRequest("GET", "/api/v2/users?"+q.Encode(), nil)
		req.RequestURI = req.URL.RequestURI()
		req.Header.Set("Authorization", "Bearer "+tok)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w := &discardWriter{h: http.Header{}}
			e.ServeHTTP(w, req)
			if w.status != 200 {
				b.Fatalf("status %d", w.status)
			}
		}
	})
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// TestRangeSearchIsNarrowed guards the index: a created_at window over
// many users must only evaluate the window, not the whole tenant.
func TestRangeSearchIsNarrowed(t *testing.T) {
	e := New(Config{})
	start := time.Now()
	base := seedBench(t, e, 8_000)
	t.Logf("seeded 8000 users in %v", time.Since(start))
	from := base.Add(500 * time.Second)
	q, err := parseQuery(fmt.Sprintf("created_at:[%s TO %s}", formatTime(from), formatTime(from.Add(250*time.Second))))
	if err != nil {
		t.Fatal(err)
	}
	b := createdBounds(q)
	if b == nil {
		t.Fatal("no bounds")
	}
	e.store.mu.RLock()
	lo, hi := b.indexRange(e.store.sorted)
	e.store.mu.RUnlock()
	if hi-lo != 1000 {
		t.Fatalf("window covers %d users, want 1000", hi-lo)
	}
	p, _ := parseSearchParams(url.Values{"q": {"created_at:[" + formatTime(from) + " TO " + formatTime(from.Add(250*time.Second)) + "}"}, "per_page": {"100"}})
	items, total := e.search(p, time.Now())
	if len(items) != 100 || total != 1000 {
		t.Fatalf("items %d total %d", len(items), total)
	}
}
