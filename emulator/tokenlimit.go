package emulator

import (
	"math"
	"net/http"
	"strconv"
)

// tokenRateLimit applies the /oauth/token bucket (Knobs.TokenRateLimit):
// every answer carries X-RateLimit-Limit, -Remaining and -Reset, as Auth0's
// Authentication API sends them; over the limit it answers 429 in the OAuth
// error shape, with Retry-After, and returns false.
func (e *Emulator) tokenRateLimit(w http.ResponseWriter) bool {
	k := e.Knobs()
	rs := e.tokenBucket.take(e.now(), k.TokenRateLimit, k.TokenRateBurst, true)
	setRateHeaders(w, rs)
	if rs.ok {
		return true
	}
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64(math.Ceil(rs.retryAfter.Seconds()))), 10))
	writeOAuthError(w, http.StatusTooManyRequests, "too_many_requests", msgRateLimited)
	return false
}
