// Package retryafter reads the HTTP Retry-After header, for the two clients
// that honour it: the Auth0 client (with Auth0's own X-RateLimit-Reset
// beside it) and the tracing exporter.
package retryafter

import (
	"net/http"
	"strconv"
	"time"
)

// At is when a Retry-After value v, received at now, allows the next try:
// v is delay-seconds or an HTTP date. ok is false when v is empty, negative
// or unreadable.
func At(v string, now time.Time) (t time.Time, ok bool) {
	if v == "" {
		return time.Time{}, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		return now.Add(time.Duration(n) * time.Second), n >= 0
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}
