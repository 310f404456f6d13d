package emulator

import (
	"bufio"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody is Auth0's request body limit on every endpoint.
const maxBody = 1 << 20

// reqState carries what the middleware learns about one request (the
// client id, once the token is checked) to the request log.
type reqState struct {
	entry    LoggedRequest
	clientID string
}

// logWriter records the status and appends the request to the log when the
// header is written, so a long SSE stream is logged when it starts. It
// passes Flush through and offers Unwrap for http.ResponseController.
type logWriter struct {
	http.ResponseWriter
	e      *Emulator
	st     *reqState
	wrote  bool
	status int
}

func (lw *logWriter) WriteHeader(status int) {
	if lw.wrote {
		return
	}
	lw.wrote = true
	lw.status = status
	lw.st.entry.Status = status
	lw.st.entry.ClientID = lw.st.clientID
	if lw.e != nil {
		lw.e.log.add(lw.st.entry)
	}
	lw.ResponseWriter.WriteHeader(status)
}

func (lw *logWriter) Write(b []byte) (int, error) {
	if !lw.wrote {
		lw.WriteHeader(http.StatusOK)
	}
	return lw.ResponseWriter.Write(b)
}

func (lw *logWriter) Flush() {
	if !lw.wrote {
		lw.WriteHeader(http.StatusOK)
	}
	if f, ok := lw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (lw *logWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

func (lw *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := lw.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("emulator: hijack not supported")
}

// requestLog is the in-memory request log.
type requestLog struct {
	mu      sync.Mutex
	max     int
	entries []LoggedRequest
}

func (l *requestLog) add(r LoggedRequest) {
	l.mu.Lock()
	if l.max > 0 && len(l.entries) >= l.max {
		// Drop the oldest tenth at once so trimming stays amortized O(1).
		drop := max(1, l.max/10)
		l.entries = append(l.entries[:0], l.entries[drop:]...)
	}
	l.entries = append(l.entries, r)
	l.mu.Unlock()
}

func (l *requestLog) snapshot() []LoggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LoggedRequest(nil), l.entries...)
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// bucket is the tenant's token bucket for /api/v2. It runs on the
// emulator's clock so tests with a controllable clock control it too.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
	init   bool
}

// unlimitedLimit is what the headers say when no rate limit is set: a
// number so large that a client never waits on it.
const unlimitedLimit = 10000

type rateState struct {
	ok         bool
	limit      int
	remaining  int
	reset      time.Time
	retryAfter time.Duration
}

// take consumes one token when consume is true, or only reports the state.
func (b *bucket) take(now time.Time, rate float64, burst int, consume bool) rateState {
	if rate <= 0 {
		return rateState{ok: true, limit: unlimitedLimit, remaining: unlimitedLimit, reset: now.Add(time.Second)}
	}
	if burst <= 0 {
		burst = int(math.Ceil(rate))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.init {
		b.init, b.tokens, b.last = true, float64(burst), now
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * rate
		b.last = now
	}
	if b.tokens > float64(burst) {
		b.tokens = float64(burst)
	}
	st := rateState{limit: burst}
	if consume && b.tokens >= 1 {
		b.tokens--
		st.ok = true
	} else if !consume {
		st.ok = b.tokens >= 1
	}
	st.remaining = int(math.Floor(b.tokens))
	// Reset is when the next whole token arrives, in whole epoch seconds
	// rounded up (Auth0 sends seconds; rounding down would let a client
	// come back too early).
	need := 1 - (b.tokens - math.Floor(b.tokens))
	wait := time.Duration(need / rate * float64(time.Second))
	at := now.Add(wait)
	st.reset = at
	st.retryAfter = wait
	return st
}

func setRateHeaders(w http.ResponseWriter, st rateState) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(st.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(st.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(st.reset), 10))
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// apiMiddleware runs the common steps of every /api/v2 request: latency,
// fault injection, token and scope, rate limit. It returns false when it
// has answered the request itself.
func (e *Emulator) apiMiddleware(w http.ResponseWriter, r *http.Request, st *reqState, scope string) bool {
	k := e.Knobs()
	if !e.sleep(r, k.Latency) {
		return false
	}
	if k.FaultRate > 0 && e.chance(k.FaultRate) {
		setRateHeaders(w, e.bucket.take(e.now(), k.RateLimit, k.RateBurst, false))
		writeAPIError(w, http.StatusServiceUnavailable, "", msgUnavailable)
		return false
	}
	// Auth failures carry the rate-limit headers too (without using a token).
	setRateHeaders(w, e.bucket.take(e.now(), k.RateLimit, k.RateBurst, false))
	if !e.authenticate(w, r, st, scope) {
		return false
	}
	rs := e.bucket.take(e.now(), k.RateLimit, k.RateBurst, true)
	setRateHeaders(w, rs)
	if !rs.ok {
		if k.RetryAfterProbability > 0 && e.chance(k.RetryAfterProbability) {
			secs := int64(math.Ceil(rs.retryAfter.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		writeAPIError(w, http.StatusTooManyRequests, "too_many_requests", msgRateLimited)
		return false
	}
	return true
}

// sleep waits d unless the request goes away first.
func (e *Emulator) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// rawPath is the path exactly as the client sent it (before any decoding).
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == "*" || !strings.HasPrefix(p, "/") {
		if u := r.URL; u != nil {
			return u.EscapedPath()
		}
	}
	return p
}
