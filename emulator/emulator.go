package emulator

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/httpbuf"
)

// Emulator is an emulated Auth0 tenant. It is safe for concurrent use.
type Emulator struct {
	cfg Config

	knobsMu sync.RWMutex
	knobs   Knobs

	// events is the Events API log (eventlog.go); the user store appends to
	// it on every create, update and delete.
	events *eventLog
	// streams are the event streams with webhook destinations
	// (eventstreams.go); the log hands them every event.
	streams streams

	store  *store
	conns  *connections
	tokens tokenStore
	bucket bucket
	// tokenBucket limits /oauth/token, apart from the Management API.
	tokenBucket bucket
	log         requestLog

	rndMu sync.Mutex
	rnd   *rand.Rand
}

// New returns an emulator for cfg. Zero values of cfg take the defaults
// documented on Config.
func New(cfg Config) *Emulator {
	if len(cfg.Clients) == 0 {
		cfg.Clients = []ClientCredentials{{ID: DefaultClientID, Secret: DefaultClientSecret}}
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := uint64(cfg.Seed)
	if seed == 0 {
		seed = rand.Uint64()
	}
	conns, err := newConnections(cfg.Connections)
	if err != nil {
		panic(err)
	}
	e := &Emulator{cfg: cfg, knobs: cfg.Knobs, store: newStore(), conns: conns, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	if cfg.RequestLogMax <= 0 {
		cfg.RequestLogMax = 100_000
	}
	e.cfg.RequestLogMax = cfg.RequestLogMax
	e.log.max = cfg.RequestLogMax
	e.events = newEventLog(e)
	return e
}

// Clients returns the tenant's Machine-to-Machine clients (Config.Clients,
// or the one default client), the first one first.
func (e *Emulator) Clients() []ClientCredentials {
	return append([]ClientCredentials(nil), e.cfg.Clients...)
}

// Knobs returns the current knobs.
func (e *Emulator) Knobs() Knobs {
	e.knobsMu.RLock()
	defer e.knobsMu.RUnlock()
	return e.knobs
}

// SetKnobs changes knobs at run time.
func (e *Emulator) SetKnobs(f func(*Knobs)) {
	e.knobsMu.Lock()
	defer e.knobsMu.Unlock()
	f(&e.knobs)
}

func (e *Emulator) now() time.Time { return e.cfg.Now() }

func (e *Emulator) chance(p float64) bool {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return e.rnd.Float64() < p
}

func (e *Emulator) randomHex(n int) string {
	b := make([]byte, n)
	e.rndMu.Lock()
	for i := range b {
		b[i] = byte(e.rnd.UintN(256))
	}
	e.rndMu.Unlock()
	return hex.EncodeToString(b)
}

// drawLag is one change's index lag: IndexLag, or uniform in
// [IndexLag, IndexLagMax] when IndexLagMax is larger.
func (e *Emulator) drawLag() time.Duration {
	k := e.Knobs()
	if k.IndexLagMax <= k.IndexLag {
		return k.IndexLag
	}
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return k.IndexLag + time.Duration(e.rnd.Int64N(int64(k.IndexLagMax-k.IndexLag)+1))
}

// ServeHTTP routes requests: /oauth/token, /api/v2/..., /emulator/....
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := rawPath(r)
	if strings.HasPrefix(path, "/emulator/") || path == "/emulator" {
		e.serveAdmin(w, r, path)
		return
	}
	st := &reqState{entry: LoggedRequest{
		Method:      r.Method,
		Path:        path,
		Query:       r.URL.RawQuery,
		Time:        e.now(),
		UserAgent:   r.UserAgent(),
		LastEventID: r.Header.Get("Last-Event-ID"),
	}}
	lw := &logWriter{ResponseWriter: w, e: e, st: st}
	defer func() {
		if !lw.wrote {
			// Only a request abandoned by its client (during Latency) ends
			// without an answer; log it as nginx's 499.
			status := http.StatusOK
			if r.Context().Err() != nil {
				status = statusClientClosed
			}
			lw.WriteHeader(status)
		}
	}()
	switch {
	case path == "/oauth/token" || path == "/oauth/token/":
		if !e.sleep(r, e.Knobs().Latency) {
			return
		}
		e.serveToken(lw, r, st)
	case path == "/api/v2" || strings.HasPrefix(path, "/api/v2/"):
		e.serveAPI(lw, r, strings.TrimPrefix(path, "/api/v2"), st)
	default:
		writeAPIError(lw, http.StatusNotFound, "", "Not Found")
	}
}

// statusClientClosed is logged for requests the client abandoned before
// the emulator answered.
const statusClientClosed = 499

// route is one Management API endpoint.
type route struct {
	scope string
	serve func(w http.ResponseWriter, r *http.Request)
}

func (e *Emulator) resolve(method, sub string) (route, bool) {
	switch {
	case sub == "/users":
		switch method {
		case http.MethodGet:
			return route{"read:users", e.handleListUsers}, true
		case http.MethodPost:
			return route{"create:users", e.handleCreateUser}, true
		}
	case sub == "/users-by-email":
		if method == http.MethodGet {
			return route{"read:users", e.handleUsersByEmail}, true
		}
	case sub == "/events":
		if method == http.MethodGet {
			return route{"read:events", func(w http.ResponseWriter, r *http.Request) {
				if e.Knobs().EventsDisabled {
					writeAPIError(w, http.StatusNotFound, "", "Not Found")
					return
				}
				e.serveEvents(w, r)
			}}, true
		}
	case strings.HasPrefix(sub, "/users/"):
		rawID := strings.TrimPrefix(sub, "/users/")
		if rawID == "" || strings.Contains(rawID, "/") {
			return route{}, false
		}
		id, err := url.PathUnescape(rawID)
		if err != nil {
			return route{}, false
		}
		switch method {
		case http.MethodGet:
			return route{"read:users", func(w http.ResponseWriter, r *http.Request) { e.handleGetUser(w, r, id) }}, true
		case http.MethodPatch:
			return route{"update:users", func(w http.ResponseWriter, r *http.Request) { e.handlePatchUser(w, r, id) }}, true
		case http.MethodDelete:
			return route{"delete:users", func(w http.ResponseWriter, r *http.Request) { e.handleDeleteUser(w, id) }}, true
		}
	}
	return route{}, false
}

func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request, sub string, st *reqState) {
	rt, ok := e.resolve(r.Method, sub)
	if !ok {
		// Unknown endpoints still pass the token check first, like Auth0.
		if e.apiMiddleware(w, r, st, "") {
			writeAPIError(w, http.StatusNotFound, "", "Not Found")
		}
		return
	}
	if !e.apiMiddleware(w, r, st, rt.scope) {
		return
	}
	k := e.Knobs()
	if sub == "/events" || (k.LatencyAfter <= 0 && k.FaultAfterRate <= 0) {
		rt.serve(w, r)
		return
	}
	// Apply the request, then hold or spoil the answer.
	rec := httpbuf.New()
	rt.serve(rec, r)
	// The change happened: answer even when the client has gone, so the
	// log records the real status.
	e.sleep(r, k.LatencyAfter)
	if k.FaultAfterRate > 0 && e.chance(k.FaultAfterRate) {
		writeAPIError(w, http.StatusServiceUnavailable, "", msgUnavailable)
		return
	}
	rec.SendTo(w)
}

// CloseEventStreams drops every open SSE connection now.
func (e *Emulator) CloseEventStreams() { e.events.closeAll() }
