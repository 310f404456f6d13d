package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestWriteSSEFraming(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Message
		want string
	}{
		{"event", Message{Event: "user.created", ID: "abc", HasID: true, Data: `{"offset":"abc"}`},
			"event: user.created\nid: abc\ndata: {\"offset\":\"abc\"}\n\n"},
		{"multi-line data", Message{Data: "a\nb\n\nc"},
			"data: a\ndata: b\ndata: \ndata: c\n\n"},
		{"CR and CRLF become line breaks", Message{Data: "a\r\nb\rc"},
			"data: a\ndata: b\ndata: c\n\n"},
		{"named event without data still dispatches", Message{Event: "ping"},
			"event: ping\ndata: \n\n"},
		{"connected comment", Message{Comment: "connected"}, ":connected\n\n"},
		{"comment keeping a leading space", Message{Comment: " x\ny"}, ":  x\n:y\n\n"},
		{"retry", Message{Retry: 1000}, "retry: 1000\n\n"},
		{"empty id", Message{HasID: true}, "id: \n\n"},
		{"order", Message{Comment: "c", Event: "e", ID: "i", Retry: 5, Data: "d"},
			":c\nevent: e\nid: i\nretry: 5\ndata: d\n\n"},
		{"empty message writes nothing", Message{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Write(&b, tc.in); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("wrote %q, want %q", b.String(), tc.want)
			}
		})
	}
	for _, bad := range []Message{
		{Event: "a\nb"}, {Event: "a\rb"}, {ID: "1\n2"}, {ID: "x\x00"}, {Retry: -1},
	} {
		var b bytes.Buffer
		if err := Write(&b, bad); err == nil || b.Len() != 0 {
			t.Errorf("Write(%+v) = %v and wrote %q, want an error and nothing written", bad, err, b.String())
		}
	}
}

// evFramable reports whether m can be written, mirroring Write's rules.
func evFramable(m Message) bool {
	return !strings.ContainsAny(m.Event, "\r\n") && !strings.ContainsAny(m.ID, "\r\n\x00") && m.Retry >= 0
}

// evExpected is what a conforming reader gives back for a written m.
func evExpected(m Message) Message {
	norm := func(s string) string { return strings.Join(lines(s), "\n") }
	out := Message{Event: m.Event, ID: m.ID, HasID: m.HasID || m.ID != "", Retry: m.Retry}
	if m.Data != "" || m.Event != "" {
		out.Data = norm(m.Data)
	}
	if m.Comment != "" {
		out.Comment = norm(m.Comment)
	}
	return out
}

func evEmpty(m Message) bool {
	return m.Comment == "" && m.Event == "" && !m.HasID && m.ID == "" && m.Retry == 0 && m.Data == ""
}

// FuzzSSERoundTrip writes two arbitrary messages with Write and parses
// the bytes back with the reader (NewReader): every
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
		msgs := []Message{
			{Event: event, ID: id, HasID: hasID, Data: data, Comment: comment, Retry: retry},
			{Event: event2, Data: data2},
		}
		var (
			buf  bytes.Buffer
			want []Message
		)
		for _, m := range msgs {
			n := buf.Len()
			err := Write(&buf, m)
			if !evFramable(m) {
				if err == nil {
					t.Fatalf("Write accepted an unframable message %+v", m)
				}
				if buf.Len() != n {
					t.Fatalf("Write wrote %q before failing", buf.Bytes()[n:])
				}
				continue
			}
			if err != nil {
				t.Fatalf("Write(%+v): %v", m, err)
			}
			if evEmpty(m) {
				if buf.Len() != n {
					t.Fatalf("an empty message wrote %q", buf.Bytes()[n:])
				}
				continue
			}
			want = append(want, evExpected(m))
		}
		if buf.Len() > testMax {
			return
		}
		wire := buf.String()
		r := NewReader(&buf, testMax)
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
