package tick

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		Every(context.Background(), time.Second, 3*time.Second, func() bool {
			at = append(at, time.Since(start))
			return len(at) < 3
		})
		want := []time.Duration{time.Second, 4 * time.Second, 7 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("steps at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("steps at %v, want %v", at, want)
			}
		}
	})
}

func TestEveryStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n := 0
		Every(ctx, 2*time.Second, 2*time.Second, func() bool { n++; return true })
		if n != 2 {
			t.Fatalf("%d steps before the context ended, want 2", n)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !Sleep(context.Background(), 2*time.Second) || time.Since(start) != 2*time.Second {
			t.Fatalf("Sleep(2s) returned after %v", time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		if Sleep(ctx, time.Hour) || time.Since(start) != time.Second {
			t.Fatalf("Sleep(1h) with a 1s context: returned after %v, want false after 1s", time.Since(start))
		}
	})
}
