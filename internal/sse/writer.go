package sse

// The Server-Sent Events writer: framing of one message
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).

import (
	"errors"
	"io"
	"strconv"
	"strings"
)

// ErrField is returned by Write for an event name or id that cannot be
// framed (a line break in it would end the field; a NUL makes readers drop
// the id).
var ErrField = errors.New("sse: event or id contains CR, LF or NUL")

// Write writes m as one SSE message in a single Write: comment lines
// first, then event, id, retry and data lines, then the blank line that
// dispatches it. CR LF and CR inside Data or Comment become line breaks (each
// line its own data: or comment line), so a reader gets them back as "\n".
// A comment line gets ": " only when its text starts with a space (readers
// remove one space after the colon), so "connected" is framed ":connected".
// Data lines are written when Data or Event is set: a named event without
// data would not be dispatched by browsers. Retry is written when > 0.
// Nothing is written for an empty message.
func Write(w io.Writer, m Message) error {
	if strings.ContainsAny(m.Event, "\r\n") || strings.ContainsAny(m.ID, "\r\n\x00") {
		return ErrField
	}
	if m.Retry < 0 {
		return errors.New("sse: negative retry")
	}
	var b strings.Builder
	if m.Comment != "" {
		for _, line := range lines(m.Comment) {
			b.WriteByte(':')
			if strings.HasPrefix(line, " ") {
				b.WriteByte(' ')
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if m.Event != "" {
		b.WriteString("event: ")
		b.WriteString(m.Event)
		b.WriteByte('\n')
	}
	if m.HasID || m.ID != "" {
		b.WriteString("id: ")
		b.WriteString(m.ID)
		b.WriteByte('\n')
	}
	if m.Retry > 0 {
		b.WriteString("retry: ")
		b.WriteString(strconv.Itoa(m.Retry))
		b.WriteByte('\n')
	}
	if m.Data != "" || m.Event != "" {
		for _, line := range lines(m.Data) {
			b.WriteString("data: ")
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return nil
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// lines splits s at CR LF, LF and CR, the SSE line terminators.
func lines(s string) []string {
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return strings.Split(s, "\n")
}
