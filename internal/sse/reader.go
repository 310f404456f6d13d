package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// errTooLarge is the internal signal of a line over the bound; Next never
// returns it: an oversized message is skipped to its end and returned with
// TooLarge set.
var errTooLarge = errors.New("sse: message too large")

// Reader parses a Server-Sent Events byte stream into messages, following
// the WHATWG event-stream interpretation rules: lines end in CRLF, LF or CR;
// one leading UTF-8 BOM is skipped; a line starting with ':' is a comment; a
// field without ':' has an empty value; one space after the colon is
// removed; data lines are joined with "\n"; an id containing NUL is ignored;
// retry is honoured only when it is all ASCII digits; unknown fields are
// ignored. A message that is cut by the end of the stream is discarded.
//
// Unlike a browser, Next also returns blocks that carry no data (comments,
// id-only, retry-only), so callers can see heartbeats and offsets. It is not
// safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	max     int  // bound on one message
	midLine bool // readLine stopped inside an oversized line
	started bool // BOM check done
	skipLF  bool // the previous line ended in CR: a following LF belongs to it
	line    []byte
	lastID  string
	data    strings.Builder
}

// NewReader reads messages from r, each up to max bytes (all its lines
// together; max must be positive: the bound keeps a broken or hostile stream
// from growing memory without limit). A larger message is skipped to its end
// and returned with TooLarge set and no Data.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		panic("sse: NewReader: max must be positive")
	}
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), max: max}
}

// LastEventID is the SSE "last event ID buffer": the most recent id field
// seen, which persists across messages that carry none.
func (r *Reader) LastEventID() string { return r.lastID }

// readLine returns the next line without its terminator. A line not ended by
// a terminator before EOF is dropped (the message it belongs to is incomplete).
func (r *Reader) readLine(budget int) ([]byte, error) {
	r.line = r.line[:0]
	if !r.started {
		r.started = true
		if b, err := r.br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
			_, _ = r.br.Discard(3)
		}
	}
	// Whole buffered runs up to a terminator are copied at once (the
	// terminator search is vectorised), instead of one ReadByte per byte.
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil { // fills, blocking like ReadByte
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			// A CR ended the previous line; an LF right after it is part of
			// that terminator. Deciding lazily never blocks on a live stream.
			r.skipLF = false
			if buf[0] == '\n' {
				_, _ = r.br.Discard(1)
				continue
			}
		}
		end := bytes.IndexByte(buf, '\n')
		lim := buf
		if end >= 0 {
			lim = buf[:end]
		}
		if cr := bytes.IndexByte(lim, '\r'); cr >= 0 {
			end = cr
		}
		if end < 0 {
			r.line = append(r.line, buf...)
			_, _ = r.br.Discard(len(buf))
			if len(r.line) > budget {
				r.midLine = true
				return nil, errTooLarge
			}
			continue
		}
		r.line = append(r.line, buf[:end]...)
		_, _ = r.br.Discard(end + 1)
		if buf[end] == '\r' {
			r.skipLF = true
		}
		if len(r.line) > budget {
			r.midLine = false
			return nil, errTooLarge
		}
		return r.line, nil
	}
}

// skipLine drops the rest of the line readLine stopped in.
func (r *Reader) skipLine() error {
	r.line = r.line[:0]
	if !r.midLine {
		return nil
	}
	r.midLine = false
	for {
		buf, err := r.br.Peek(max(r.br.Buffered(), 1))
		if len(buf) == 0 {
			return err
		}
		end := bytes.IndexAny(buf, "\r\n")
		if end < 0 {
			_, _ = r.br.Discard(len(buf))
			continue
		}
		_, _ = r.br.Discard(end + 1)
		r.skipLF = buf[end] == '\r'
		return nil
	}
}

// Next returns the next message; io.EOF (or the underlying read error) at
// the end of the stream. A message over the reader's bound is read to its
// end without keeping its data and returned with TooLarge set (its other
// fields, id included, as read).
func (r *Reader) Next() (Message, error) {
	var st message
	r.data.Reset()
	for {
		line, err := r.readLine(r.max - st.size)
		if err == errTooLarge {
			// Skipped to its end: the rest of the message is read for its
			// id and event, without its data.
			st = message{msg: st.msg, any: true}
			st.msg.TooLarge = true
			r.data.Reset()
			if err := r.skipLine(); err != nil {
				return Message{}, eofErr(err)
			}
			continue
		}
		if err != nil {
			return Message{}, eofErr(err)
		}
		if !st.msg.TooLarge {
			st.size += len(line) + 1
		}
		switch {
		case len(line) == 0 && !st.any:
			st.size = 0 // blank lines, or a block of only ignored fields
		case len(line) == 0:
			return r.dispatch(&st), nil
		case line[0] == ':':
			st.any = true
			st.comments = append(st.comments, strings.TrimPrefix(string(line[1:]), " "))
		default:
			r.field(&st, line)
		}
	}
}

// message is the state of the message Next is reading.
type message struct {
	msg      Message
	any      bool // a field or comment was seen: a blank line dispatches
	hasData  bool
	comments []string
	size     int // bytes counted against the bound
}

// dispatch completes the message at its blank line.
func (r *Reader) dispatch(st *message) Message {
	if st.hasData && !st.msg.TooLarge {
		st.msg.Data = r.data.String()
	}
	if cap(r.line) > 1<<20 {
		r.line = nil // a large message's line buffer is not kept per connection
	}
	if len(st.comments) > 0 {
		st.msg.Comment = strings.Join(st.comments, "\n")
	}
	return st.msg
}

// field applies one "name: value" line to the message.
func (r *Reader) field(st *message, line []byte) {
	var field, v []byte
	if i := indexByte(line, ':'); i >= 0 {
		field = line[:i]
		v = line[i+1:]
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
	} else {
		field = line
	}
	if string(field) == "data" {
		if st.msg.TooLarge {
			return
		}
		// Written straight into the buffer: no string per line.
		if st.hasData {
			r.data.WriteByte('\n')
		} else {
			r.data.Grow(len(v))
		}
		st.hasData, st.any = true, true
		r.data.Write(v)
		return
	}
	value := string(v)
	switch string(field) {
	case "event":
		st.any = true
		st.msg.Event = value
	case "id":
		if strings.IndexByte(value, 0) < 0 {
			st.msg.ID, st.msg.HasID, st.any = value, true, true
			r.lastID = value
		}
	case "retry":
		if n, ok := digits(value); ok {
			st.msg.Retry, st.any = n, true
		}
	}
}

func eofErr(err error) error {
	if err == io.ErrUnexpectedEOF {
		return io.EOF
	}
	return err
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false // overflow
	}
	return n, true
}
