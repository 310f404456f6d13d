package sse

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// testMax is the bound the Auth0 client uses (auth0.MaxSSEMessageSize).
const testMax = 40 << 20

func readAllSSE(t testing.TB, in string) []Message {
	t.Helper()
	r := NewReader(strings.NewReader(in), testMax)
	var out []Message
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, m)
	}
}

func TestSSEReaderFraming(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Message
	}{
		{"auth0 stream", ":connected\n\nretry: 1000\n\nevent: user.created\nid: 7\ndata: {\"offset\":\"7\"}\n\n: heartbeat\n\nevent: offset-only\nid: 8\ndata: {\"offset\":\"8\"}\n\n",
			[]Message{{Comment: "connected"}, {Retry: 1000}, {Event: "user.created", ID: "7", HasID: true, Data: `{"offset":"7"}`}, {Comment: "heartbeat"}, {Event: "offset-only", ID: "8", HasID: true, Data: `{"offset":"8"}`}}},
		{"multi-line data", "data: a\ndata:b\ndata:  c\n\n", []Message{{Data: "a\nb\n c"}}},
		{"CRLF", "event: x\r\ndata: 1\r\n\r\n", []Message{{Event: "x", Data: "1"}}},
		{"CR only", "event: x\rdata: 1\r\rdata: 2\r\r", []Message{{Event: "x", Data: "1"}, {Data: "2"}}},
		{"mixed endings", "data: 1\r\n\ndata: 2\r\r\ndata: 3\n\r", []Message{{Data: "1"}, {Data: "2"}, {Data: "3"}}},
		{"BOM", "\xEF\xBB\xBFdata: x\n\n", []Message{{Data: "x"}}},
		{"only one BOM stripped", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", nil},
		{"field without colon", "data\n\ndata\ndata\n\n", []Message{{Data: ""}, {Data: "\n"}}},
		{"empty id resets", "id\ndata: x\n\n", []Message{{HasID: true, Data: "x"}}},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", []Message{{Data: "x"}}},
		{"bad retry ignored", "retry: 10a\ndata: x\n\n", []Message{{Data: "x"}}},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []Message{{Data: "x"}}},
		{"incomplete message at EOF dropped", "data: x\n\ndata: y\n", []Message{{Data: "x"}}},
		{"no trailing blank line", "data: x", nil},
		{"colon in value kept", "data: a: b\n\n", []Message{{Data: "a: b"}}},
		{"tab not stripped", "data:\tx\n\n", []Message{{Data: "\tx"}}},
		{"last event wins", "event: a\nevent: b\ndata: 1\n\n", []Message{{Event: "b", Data: "1"}}},
		{"comment and data", ": hb\ndata: 1\n\n", []Message{{Comment: "hb", Data: "1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := readAllSSE(t, tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestSSEReaderLastEventIDPersists(t *testing.T) {
	r := NewReader(strings.NewReader("id: 5\ndata: a\n\ndata: b\n\n"), testMax)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	m, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.HasID || r.LastEventID() != "5" {
		t.Fatalf("message %#v, last id %q", m, r.LastEventID())
	}
}

// A message over the bound is skipped to its end, not a stream error: its
// id and event are kept (the offset is handled), the next message reads
// normally (README "Bad data"). Before, the stream failed and reconnected forever.
func TestSSEReaderTooLarge(t *testing.T) {
	const max = 1 << 10
	big := strings.Repeat("x", 3*max)
	for _, tc := range []struct{ name, in string }{
		{"id first", "event: user.created\nid: 7\ndata: " + big + "\ndata: more\n\nid: 8\ndata: ok\n\n"},
		{"id after data", "event: user.created\ndata: " + big + "\nid: 7\n\nid: 8\ndata: ok\n\n"},
		{"many lines", "event: user.created\nid: 7\n" + strings.Repeat("data: "+strings.Repeat("y", max/4)+"\r\n", 8) + "\r\nid: 8\r\ndata: ok\r\n\r\n"},
		{"CR ends the long line", "event: user.created\nid: 7\ndata: " + big + "\r\r\nid: 8\ndata: ok\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(&oneByteReader{b: []byte(tc.in)}, max)
			m, err := r.Next()
			if err != nil || !m.TooLarge || m.Data != "" || m.ID != "7" || m.Event != "user.created" {
				t.Fatalf("first = %+v, %v", m, err)
			}
			m, err = r.Next()
			if err != nil || m.TooLarge || m.ID != "8" || m.Data != "ok" {
				t.Fatalf("second = %+v, %v", m, err)
			}
		})
	}
	// The bound is per message: a message just under it is read whole.
	ok := "data: " + strings.Repeat("z", max-8) + "\n\n"
	if m, err := NewReader(strings.NewReader(ok), max).Next(); err != nil || m.TooLarge || len(m.Data) != max-8 {
		t.Fatalf("under the bound: %v, too large %v, %d bytes", err, m.TooLarge, len(m.Data))
	}
}

// A CR at the end of what has arrived so far must not block waiting for a
// possible LF: the message is dispatched as soon as its blank line arrives.
func TestSSEReaderCRDoesNotBlock(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr, testMax)
	got := make(chan Message, 1)
	go func() {
		m, _ := r.Next()
		got <- m
	}()
	if _, err := pw.Write([]byte("data: x\r\r")); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m.Data != "x" {
		t.Fatalf("got %#v", m)
	}
	pw.Close()
}

// FuzzSSEReader checks the reader never panics, never returns more data than
// it was given, and agrees with itself whether input arrives in one piece or
// byte by byte.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		":connected\n\nretry: 1000\n\nevent: user.created\nid: 1\ndata: {\"offset\":\"1\"}\n\n",
		"data: a\r\ndata: b\r\n\r\n", "data\rid\r\r", "\xEF\xBB\xBFevent:x\ndata:y\n\n", "id: \x00\n\n",
		"event: error\ndata: {\"error\":{\"code\":\"cursor_expired\",\"message\":\"x\"}}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := readAllSSE(t, string(in))
		r := NewReader(&oneByteReader{b: in}, testMax)
		var pieces []Message
		for {
			m, err := r.Next()
			if err != nil {
				break
			}
			pieces = append(pieces, m)
		}
		if !reflect.DeepEqual(whole, pieces) {
			t.Fatalf("whole %#v\npieces %#v", whole, pieces)
		}
		total := 0
		for _, m := range whole {
			total += len(m.Data)
		}
		if total > len(in) {
			t.Fatalf("data %d bytes from %d input bytes", total, len(in))
		}
	})
}

type oneByteReader struct{ b []byte }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}
