package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

func TestWriteSSEFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   auth0.SSEMessage
		want string
	}{
		{"event", auth0.SSEMessage{Event: "user.created", ID: "abc", HasID: true, Data: `{"offset":"abc"}`},
			"event: user.created\nid: abc\ndata: {\"offset\":\"abc\"}\n\n"},
		{"multi-line data", auth0.SSEMessage{Data: "a\nb\n\nc"},
			"data: a\ndata: b\ndata: \ndata: c\n\n"},
		{"CR and CRLF become line breaks", auth0.SSEMessage{Data: "a\r\nb\rc"},
			"data: a\ndata: b\ndata: c\n\n"},
		{"named event without data still dispatches", auth0.SSEMessage{Event: "ping"},
			"event: ping\ndata: \n\n"},
		{"connected comment", auth0.SSEMessage{Comment: "connected"}, ":connected\n\n"},
		{"comment keeping a leading space", auth0.SSEMessage{Comment: " x\ny"}, ":  x\n:y\n\n"},
		{"retry", auth0.SSEMessage{Retry: 1000}, "retry: 1000\n\n"},
		{"empty id", auth0.SSEMessage{HasID: true}, "id: \n\n"},
		{"order", auth0.SSEMessage{Comment: "c", Event: "e", ID: "i", Retry: 5, Data: "d"},
			":c\nevent: e\nid: i\nretry: 5\ndata: d\n\n"},
		{"empty message writes nothing", auth0.SSEMessage{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeSSE(&b, tc.in); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("wrote %q, want %q", b.String(), tc.want)
			}
		})
	}
	for _, bad := range []auth0.SSEMessage{
		{Event: "a\nb"}, {Event: "a\rb"}, {ID: "1\n2"}, {ID: "x\x00"}, {Retry: -1},
	} {
		var b bytes.Buffer
		if err := writeSSE(&b, bad); err == nil || b.Len() != 0 {
			t.Errorf("writeSSE(%+v) = %v and wrote %q, want an error and nothing written", bad, err, b.String())
		}
	}
}

// evFramable reports whether m can be written, mirroring writeSSE's rules.
func evFramable(m auth0.SSEMessage) bool {
	return !strings.ContainsAny(m.Event, "\r\n") && !strings.ContainsAny(m.ID, "\r\n\x00") && m.Retry >= 0
}

// evExpected is what a conforming reader gives back for a written m.
func evExpected(m auth0.SSEMessage) auth0.SSEMessage {
	norm := func(s string) string { return strings.Join(sseLines(s), "\n") }
	out := auth0.SSEMessage{Event: m.Event, ID: m.ID, HasID: m.HasID || m.ID != "", Retry: m.Retry}
	if m.Data != "" || m.Event != "" {
		out.Data = norm(m.Data)
	}
	if m.Comment != "" {
		out.Comment = norm(m.Comment)
	}
	return out
}

func evEmpty(m auth0.SSEMessage) bool {
	return m.Comment == "" && m.Event == "" && !m.HasID && m.ID == "" && m.Retry == 0 && m.Data == ""
}

// FuzzSSERoundTrip writes two arbitrary messages with writeSSE and parses
// the bytes back with the client's reader (auth0.NewSSEReader): every
// message that can be framed comes back field for field (line breaks in
// data and comments normalised to "\n"), one message per write, and
// nothing else.
func FuzzSSERoundTrip(f *testing.F) {
	f.Add("user.created", "b2Zmc2V0LTE", true, `{"offset":"b2Zmc2V0LTE","event":{}}`, "", 0, "offset-only", "x")
	f.Add("", "", false, "", "connected", 1000, "", "")
	f.Add("error", "", false, `{"error":{"code":"cursor_expired","message":"m"}}`, " heartbeat", 0, "", "line1\nline2")
	f.Add("ev", "", true, "a\r\nb\rc\n", "c1\r\nc2", 3, "e2", "\n")
	f.Add("", "id", false, "", "", 0, " lead", " space")
	f.Add("x\ny", "i", true, "d", "", 0, "", "")
	f.Add("", "\x00", true, "", ":colon", 0, "", "data: in data")
	f.Add("é", "ü", false, "\xff\xfe", "\ufeffbom", 7, "", "")
	f.Fuzz(func(t *testing.T, event, id string, hasID bool, data, comment string, retry int, event2, data2 string) {
		msgs := []auth0.SSEMessage{
			{Event: event, ID: id, HasID: hasID, Data: data, Comment: comment, Retry: retry},
			{Event: event2, Data: data2},
		}
		var (
			buf  bytes.Buffer
			want []auth0.SSEMessage
		)
		for _, m := range msgs {
			n := buf.Len()
			err := writeSSE(&buf, m)
			if !evFramable(m) {
				if err == nil {
					t.Fatalf("writeSSE accepted an unframable message %+v", m)
				}
				if buf.Len() != n {
					t.Fatalf("writeSSE wrote %q before failing", buf.Bytes()[n:])
				}
				continue
			}
			if err != nil {
				t.Fatalf("writeSSE(%+v): %v", m, err)
			}
			if evEmpty(m) {
				if buf.Len() != n {
					t.Fatalf("an empty message wrote %q", buf.Bytes()[n:])
				}
				continue
			}
			want = append(want, evExpected(m))
		}
		if buf.Len() > auth0.MaxSSEMessageSize {
			return
		}
		wire := buf.String()
		r := auth0.NewSSEReader(&buf)
		for i, w := range want {
			got, err := r.Next()
			if err != nil {
				t.Fatalf("message %d: %v (wire %q)", i, err, wire)
			}
			if got != w {
				t.Fatalf("message %d:\n got %+v\nwant %+v\nwire %q", i, got, w, wire)
			}
		}
		if got, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after %d messages: %+v, %v; want EOF (wire %q)", len(want), got, err, wire)
		}
	})
}

// TestEventFrameIsWriteSSE: the log frames events by hand for speed; the
// bytes must be exactly what writeSSE writes for the same message, and the
// data one compact JSON line.
func TestEventFrameIsWriteSSE(t *testing.T) {
	e := New(Config{})
	e.events.append("user.created", evUserJSON(1, time.Now()))
	e.events.append("user.deleted", []byte("{\n}"))
	for _, ent := range e.events.entries {
		m, err := auth0.NewSSEReader(bytes.NewReader(ent.frame)).Next()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := writeSSE(&b, m); err != nil {
			t.Fatal(err)
		}
		if b.String() != string(ent.frame) {
			t.Fatalf("frame %q\nwriteSSE %q", ent.frame, b.String())
		}
		if m.Event != ent.typ || m.ID != ent.offset || strings.Contains(m.Data, "\n") || !json.Valid([]byte(m.Data)) {
			t.Fatalf("frame %q: event %q id %q, want %q %q and one JSON line", ent.frame, m.Event, m.ID, ent.typ, ent.offset)
		}
	}
}
