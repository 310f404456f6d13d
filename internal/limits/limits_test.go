package limits

import (
	"testing"
	"time"
)

func TestText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2m", 168 * time.Hour: "168h", 300 * time.Millisecond: "300ms",
		15 * time.Second: "15s", 90 * time.Minute: "1h30m", 0: "0s",
	} {
		if got := Text(d); got != want {
			t.Errorf("Text(%v) = %q, want %q", d, got, want)
		}
	}
}
