package poller

import (
	"context"
	"fmt"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

const perPage = 100

// maxPages is how many pages fit under Auth0's 1000-result cap: page
// maxPages would be answered 400 invalid_paging, so it is never requested.
const maxPages = auth0.SearchCap / perPage

// errStop ends a scan early without an error.
var errStop = fmt.Errorf("stop scan")

// scanQuery builds q for created_at in [from, to] (to zero = open end),
// ANDed with the operator's POLL_QUERY.
func scanQuery(from, to time.Time, extra string) string {
	hi := "*"
	if !to.IsZero() {
		hi = formatCreatedAt(to)
	}
	q := "created_at:[" + formatCreatedAt(from) + " TO " + hi + "]"
	if extra != "" {
		q += " AND (" + extra + ")"
	}
	return q
}

// scan reads the users created in [from, to] (to zero = up to now) in
// created_at order, one page of 100 at a time, and hands each page to fn.
// At the 1000-result cap it restarts the window from the last created_at
// seen (inclusive: ties are read again and absorbed by dedupe), so it never
// requests a page past the cap. fn returns errStop to end the scan.
// requests counts the searches sent (for logs and benchmarks).
func scan(ctx context.Context, s UserSearcher, from, to time.Time, extra string, fn func([]auth0.User) error) (requests int, err error) {
	for {
		q := scanQuery(from, to, extra)
		var last time.Time
		full := true
		for page := 0; page < maxPages; page++ {
			res, err := s.SearchUsers(ctx, auth0.SearchParams{Query: q, Sort: "created_at:1", Page: page, PerPage: perPage})
			requests++
			if err != nil {
				return requests, fmt.Errorf("search %q page %d: %w", q, page, err)
			}
			if len(res.Users) > 0 {
				if _, t, ok := lastTimed(res.Users); ok {
					last = t
				}
				if err := fn(res.Users); err != nil {
					if err == errStop {
						return requests, nil
					}
					return requests, err
				}
			}
			// A short page is the end; so is a full page that reaches the
			// total Auth0 reported (saves one empty request).
			if len(res.Users) < perPage || (res.Total > 0 && res.Total < auth0.SearchCap && (page+1)*perPage >= res.Total) {
				full = false
				break
			}
		}
		if !full {
			return requests, nil
		}
		// Capped: restart from the last created_at seen.
		if last.IsZero() || !last.After(from) {
			return requests, fmt.Errorf("search %q: more than %d users share created_at %s; the window cannot be narrowed further",
				q, auth0.SearchCap, formatCreatedAt(from))
		}
		from = last
	}
}
