package emulator

// The Events API log: the agreed internal interface between the user store
// (append) and the SSE handler (sse_handler.go).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// Identity of the emulated tenant in every CloudEvent envelope. The spec
// wants a0tenant to match [a-z0-9][-a-z0-9]{1,62}[a-z0-9] and a0stream to be
// est_ + 16 alphanumerics.
const (
	evTenant   = "emulator"
	evSource   = "urn:auth0:emulator.auth0.local"
	evStreamID = "est_emulator00000001"
)

// evEntry is one event of the log. frame is the whole SSE message (event,
// id and one data line {"offset":"...","event":{...CloudEvent...}}), framed
// once at append so connections only copy bytes; nothing else keeps the
// payload, so 100,000 events cost about one user object each.
type evEntry struct {
	seq    uint64
	at     time.Time
	typ    string
	offset string
	frame  []byte
}

// evCursor is a position in the log: after event seq (0 = before the first
// event ever), named at time at. The time makes offsets age like Auth0's: an
// offset-only heartbeat hands out a fresh cursor, so a connected client's
// cursor never expires while an abandoned one does.
type evCursor struct {
	seq uint64
	at  time.Time
}

// Offsets are opaque to clients: base64url of magic, the log's instance id
// (an offset from another emulator process is "no longer available"), the
// sequence number and the cursor time in Unix nanoseconds.
const (
	evOffsetMagic = 0xA0
	evOffsetLen   = 1 + 4 + 8 + 8
)

// Errors of offset resolution (mapped to HTTP answers by the handler).
var (
	errEvOffsetMalformed = errors.New("invalid cursor format")
	errEvOffsetExpired   = errors.New("cursor points to data no longer available in the stream")
	errEvOffsetUnknown   = errors.New("cursor points past the end of the stream")
)

// eventLog keeps the tenant's events with their offsets and serves them. It
// is append-only; retention (Knobs.EventsRetention) drops the oldest entries.
// Sequence numbers are contiguous, so seeking by offset is an index
// computation and seeking by time a binary search. Safe for concurrent use.
type eventLog struct {
	e        *Emulator
	instance uint32

	mu      sync.Mutex
	entries []evEntry // contiguous seqs, oldest first
	lastSeq uint64    // seq of the newest event ever appended
	lastAt  time.Time // time of the newest event (event times never go back)
	// wake is closed and replaced on every append: a broadcast to every
	// waiting connection without polling.
	wake chan struct{}
	// closing is cancelled and replaced by closeAll.
	closing      context.Context
	closeClosing context.CancelFunc
	conns        int // open SSE connections
	rnd          *mrand.Rand
}

// newEventLog is called once by New.
func newEventLog(e *Emulator) *eventLog {
	var b [4]byte
	_, _ = rand.Read(b[:])
	seed := uint64(e.cfg.Seed)
	if seed == 0 {
		seed = mrand.Uint64()
	}
	l := &eventLog{
		e:        e,
		instance: binary.BigEndian.Uint32(b[:]),
		wake:     make(chan struct{}),
		rnd:      mrand.New(mrand.NewPCG(seed, 0x5e5e)),
	}
	l.closing, l.closeClosing = context.WithCancel(context.Background())
	return l
}

// retention is read before taking l.mu: the knobs lock is never taken while
// holding the log lock.
func (l *eventLog) retention() time.Duration { return l.e.Knobs().EventsRetention }

func (l *eventLog) now() time.Time { return l.e.now() }

// append records one event. eventType is "user.created", "user.updated" or
// "user.deleted"; user is the user object JSON exactly as GET /users/{id}
// answers it (for user.deleted, the user as it was; deleted_at is added when
// absent, as the spec requires it). Called by the store after the change is
// applied, in the order changes happen. It panics on a user that is not a
// JSON object: that is a bug in the caller, not bad client input.
func (l *eventLog) append(eventType string, user []byte) { l.appendPadded(eventType, user, 0) }

// appendPadded is append with a CloudEvent extension member a0padding of
// pad bytes (faults_data.go: a huge stream message for a small user).
func (l *eventLog) appendPadded(eventType string, user []byte, pad int) {
	if !slices.Contains(evEventTypes, eventType) {
		panic(fmt.Sprintf("emulator: eventLog.append: unknown event type %q", eventType))
	}
	var obj bytes.Buffer
	if err := json.Compact(&obj, user); err != nil || obj.Len() < 2 || obj.Bytes()[0] != '{' {
		panic(fmt.Sprintf("emulator: eventLog.append(%q): user is not a JSON object: %v", eventType, err))
	}
	now := l.now().UTC()
	ret := l.retention()

	l.mu.Lock()
	defer l.mu.Unlock()
	// Event times never go back, so the log stays sorted by time even when a
	// test clock is moved backwards.
	if now.Before(l.lastAt) {
		now = l.lastAt
	}
	objBytes := obj.Bytes()
	if eventType == "user.deleted" {
		objBytes = evAddDeletedAt(objBytes, now)
	}
	seq := l.lastSeq + 1
	offset := l.encodeOffset(evCursor{seq: seq, at: now})
	var idBuf [20]byte // evt_ + 16 alphanumerics, on the stack
	evtID := l.appendAlnum(append(idBuf[:0], "evt_"...), 16)
	// Framed by hand in one allocation: every part is either fixed, base64url,
	// a known event type, a timestamp or compact JSON (no line breaks), so
	// this is exactly what sse.Write would write for the same message.
	frame := make([]byte, 0, 200+2*len(eventType)+2*len(offset)+len(timeLayout)+len(objBytes)+pad)
	frame = append(frame, "event: "...)
	frame = append(frame, eventType...)
	frame = append(frame, "\nid: "...)
	frame = append(frame, offset...)
	frame = append(frame, "\ndata: "+`{"offset":"`...)
	frame = append(frame, offset...)
	frame = append(frame, `","event":`...)
	frame = appendCloudEvent(frame, eventType, evtID, now, objBytes, evStreamID)
	if pad > 0 {
		frame = append(frame, `,"a0padding":"`...)
		frame = append(frame, bytes.Repeat([]byte{'x'}, pad)...)
		frame = append(frame, '"')
	}
	frame = append(frame, "}}\n\n"...)
	// Webhook streams get the same event, in log order.
	l.e.publishToStreams(eventType, evtID, now, objBytes)
	l.entries = append(l.entries, evEntry{seq: seq, at: now, typ: eventType, offset: offset, frame: frame})
	l.lastSeq, l.lastAt = seq, now
	l.pruneLocked(now, ret)
	close(l.wake)
	l.wake = make(chan struct{})
}

// evAddDeletedAt inserts "deleted_at" into a compact JSON object unless it is
// already there.
func evAddDeletedAt(obj []byte, at time.Time) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) == nil {
		if _, ok := m["deleted_at"]; ok {
			return obj
		}
	}
	field := `"deleted_at":"` + at.Format(timeLayout) + `"`
	out := make([]byte, 0, len(obj)+len(field)+1)
	out = append(out, '{')
	out = append(out, field...)
	if len(m) > 0 {
		out = append(out, ',')
	}
	return append(out, obj[1:]...)
}

const evAlnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// appendAlnum appends n random alphanumerics. Needs l.mu held.
func (l *eventLog) appendAlnum(b []byte, n int) []byte {
	for range n {
		b = append(b, evAlnum[l.rnd.IntN(len(evAlnum))])
	}
	return b
}

// chance reports true with probability p.
func (l *eventLog) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rnd.Float64() < p
}

// pruneLocked drops entries older than the retention. Needs l.mu held.
func (l *eventLog) pruneLocked(now time.Time, ret time.Duration) {
	if ret <= 0 || len(l.entries) == 0 {
		return
	}
	cut := now.Add(-ret)
	i := sort.Search(len(l.entries), func(i int) bool { return !l.entries[i].at.Before(cut) })
	if i == 0 {
		return
	}
	// Copy when the dropped prefix dominates, so the backing array does not
	// keep every event ever appended alive.
	if i > len(l.entries)/2 {
		l.entries = append([]evEntry(nil), l.entries[i:]...)
	} else {
		l.entries = l.entries[i:]
	}
}

// firstSeqLocked is the seq of the oldest retained event (lastSeq+1 when the
// log is empty).
func (l *eventLog) firstSeqLocked() uint64 {
	if len(l.entries) == 0 {
		return l.lastSeq + 1
	}
	return l.entries[0].seq
}

// expiredLocked reports whether c names a position whose following events
// are gone: either an event after c was dropped, or c itself is older than
// the retention. Needs l.mu held (and a prune just done).
func (l *eventLog) expiredLocked(c evCursor, now time.Time, ret time.Duration) bool {
	if c.seq+1 < l.firstSeqLocked() {
		return true
	}
	return ret > 0 && c.at.Before(now.Add(-ret))
}

func (l *eventLog) encodeOffset(c evCursor) string {
	var b [evOffsetLen]byte
	b[0] = evOffsetMagic
	binary.BigEndian.PutUint32(b[1:5], l.instance)
	binary.BigEndian.PutUint64(b[5:13], c.seq)
	binary.BigEndian.PutUint64(b[13:21], uint64(c.at.UnixNano()))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeOffset parses an offset of this log. It does not check retention.
func (l *eventLog) decodeOffset(s string) (evCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != evOffsetLen || b[0] != evOffsetMagic {
		return evCursor{}, errEvOffsetMalformed
	}
	if binary.BigEndian.Uint32(b[1:5]) != l.instance {
		// Another emulator process's offset: its data is gone.
		return evCursor{}, errEvOffsetExpired
	}
	return evCursor{
		seq: binary.BigEndian.Uint64(b[5:13]),
		at:  time.Unix(0, int64(binary.BigEndian.Uint64(b[13:21]))).UTC(),
	}, nil
}

// resolveOffset turns a client's offset into a cursor: the events after it
// are what the client has not seen.
func (l *eventLog) resolveOffset(s string) (evCursor, error) {
	c, err := l.decodeOffset(s)
	if err != nil {
		return evCursor{}, err
	}
	now, ret := l.now(), l.retention()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now, ret)
	if c.seq > l.lastSeq {
		return evCursor{}, errEvOffsetUnknown
	}
	if l.expiredLocked(c, now, ret) {
		return evCursor{}, errEvOffsetExpired
	}
	return c, nil
}

// cursorAtTime is the position just before the first retained event at or
// after t (the newest position when there is none).
func (l *eventLog) cursorAtTime(t time.Time) evCursor {
	now, ret := l.now(), l.retention()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now, ret)
	i := sort.Search(len(l.entries), func(i int) bool { return !l.entries[i].at.Before(t) })
	if i == len(l.entries) {
		return evCursor{seq: l.lastSeq, at: now}
	}
	return evCursor{seq: l.entries[i].seq - 1, at: l.entries[i].at}
}

// latest is the newest position (a stream without from starts there).
func (l *eventLog) latest() evCursor {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return evCursor{seq: l.lastSeq, at: now}
}

// evBatchMax bounds how many entries one read copies under the lock.
const evBatchMax = 256

// read returns up to evBatchMax entries after c, whether c has expired, and
// the channel that signals the next append.
func (l *eventLog) read(c evCursor, buf []evEntry) (out []evEntry, expired bool, wake <-chan struct{}) {
	now, ret := l.now(), l.retention()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now, ret)
	wake = l.wake
	if l.expiredLocked(c, now, ret) {
		return buf[:0], true, wake
	}
	first := l.firstSeqLocked()
	i := int(c.seq + 1 - first)
	end := min(len(l.entries), i+evBatchMax)
	return append(buf[:0], l.entries[i:end]...), false, wake
}

// lastBefore returns the newest retained entry at or before seq whose type
// passes match (for re-delivery).
func (l *eventLog) lastBefore(seq uint64, match func(string) bool) (evEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == 0 || seq < l.entries[0].seq {
		return evEntry{}, false
	}
	for i := min(int(seq-l.entries[0].seq), len(l.entries)-1); i >= 0; i-- {
		if match(l.entries[i].typ) {
			return l.entries[i], true
		}
	}
	return evEntry{}, false
}

// acquire registers a connection; false when max (> 0) are already open.
func (l *eventLog) acquire(max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if max > 0 && l.conns >= max {
		return false
	}
	l.conns++
	return true
}

func (l *eventLog) release() {
	l.mu.Lock()
	l.conns--
	l.mu.Unlock()
}

// openConnections is the number of SSE connections being served.
func (l *eventLog) openConnections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns
}

// len is the number of retained events.
func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// closingContext is cancelled by the next closeAll.
func (l *eventLog) closingContext() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

// closeAll drops every open SSE connection (server-side cycling on demand).
func (l *eventLog) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeClosing()
	l.closing, l.closeClosing = context.WithCancel(context.Background())
}
