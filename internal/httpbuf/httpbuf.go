// Package httpbuf holds a handler's whole answer in memory so the caller
// can look at it, or decide about it, before it is sent. The emulator
// (latency and faults after a change) and internal/contract (validation of
// every answer) both use it; it imports nothing of the worker.
package httpbuf

import (
	"bytes"
	"net/http"
)

// Writer is an http.ResponseWriter that keeps the answer instead of sending
// it. The zero value is not ready: use New.
type Writer struct {
	header http.Header
	status int // 0 until WriteHeader or Write
	body   bytes.Buffer
}

// New returns an empty Writer.
func New() *Writer { return &Writer{header: http.Header{}} }

// Header is the answer's header, as the handler set it.
func (b *Writer) Header() http.Header { return b.header }

// WriteHeader keeps the first status, as net/http does.
func (b *Writer) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}

// Write appends to the body; a Write before any WriteHeader means 200.
func (b *Writer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// Status is the answer's status: 200 when the handler wrote nothing.
func (b *Writer) Status() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// Body is the answer's body (not a copy).
func (b *Writer) Body() []byte { return b.body.Bytes() }

// SendTo sends the kept answer on w: header, Status, body.
func (b *Writer) SendTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.Status())
	_, _ = w.Write(b.body.Bytes())
}
