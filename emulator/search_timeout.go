package emulator

import (
	"net/http"
	"time"
)

// defaultSearchTimeout is how long Auth0 lets a user search run before it
// answers 503 (its search best practices: two seconds).
const defaultSearchTimeout = 2 * time.Second

// msgSearchTimeout answers a search that ran too long. Auth0 documents the
// 503 but no text or errorCode for it; this is the emulator's wording.
const msgSearchTimeout = "The search query timed out. Refine the query (avoid leading wildcards and existence queries) and retry."

// searchRunTime makes a GET /users take Knobs.SearchDuration. When that is
// longer than the search timeout it waits out the timeout and returns
// Auth0's 503. ok is false when the client went away meanwhile (nothing is
// to be answered then).
func (e *Emulator) searchRunTime(r *http.Request) (herr *httpErr, ok bool) {
	k := e.Knobs()
	if k.SearchDuration <= 0 {
		return nil, true
	}
	limit := k.SearchTimeout
	if limit <= 0 {
		limit = defaultSearchTimeout
	}
	if k.SearchDuration <= limit {
		return nil, e.sleep(r, k.SearchDuration)
	}
	if !e.sleep(r, limit) {
		return nil, false
	}
	return &httpErr{http.StatusServiceUnavailable, "", msgSearchTimeout}, true
}
