package retryafter

import (
	"net/http"
	"testing"
	"time"
)

func TestAt(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Time
		ok   bool
	}{
		{"7", now.Add(7 * time.Second), true},
		{"0", now, true},
		{now.Add(time.Hour).Format(http.TimeFormat), now.Add(time.Hour), true},
		{"-3", time.Time{}, false},
		{"soon", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := At(tc.v, now)
		if ok != tc.ok || (ok && !got.Equal(tc.want)) {
			t.Errorf("At(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}
