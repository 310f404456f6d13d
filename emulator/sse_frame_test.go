package emulator

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/sse"
)

// TestEventFrameIsWriteSSE: the log frames events by hand for speed; the
// bytes must be exactly what sse.Write writes for the same message, and the
// data one compact JSON line.
func TestEventFrameIsWriteSSE(t *testing.T) {
	e := New(Config{})
	e.events.append("user.created", evUserJSON(1, time.Now()))
	e.events.append("user.deleted", []byte("{\n}"))
	for _, ent := range e.events.entries {
		m, err := sse.NewReader(bytes.NewReader(ent.frame), len(ent.frame)+1).Next()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := sse.Write(&b, m); err != nil {
			t.Fatal(err)
		}
		if b.String() != string(ent.frame) {
			t.Fatalf("frame %q\nsse.Write %q", ent.frame, b.String())
		}
		if m.Event != ent.typ || m.ID != ent.offset || strings.Contains(m.Data, "\n") || !json.Valid([]byte(m.Data)) {
			t.Fatalf("frame %q: event %q id %q, want %q %q and one JSON line", ent.frame, m.Event, m.ID, ent.typ, ent.offset)
		}
	}
}
