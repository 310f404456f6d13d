package auth0

import (
	"context"
)

// SearchAll iterates the users matching p, page by page (per_page 100 unless
// p.PerPage is set, starting at p.Page). It stops at a short page and never
// requests a page that would reach past SearchCap; Capped then tells whether
// the cap cut the result. To read past the cap, narrow the query (for
// example a created_at window restarted from the last value seen).
func (c *Client) SearchAll(p SearchParams) *UserIterator {
	if p.PerPage == 0 {
		p.PerPage = 100
	}
	return &UserIterator{c: c, p: p}
}

// UserIterator walks the users of a search; see SearchAll. Not safe for
// concurrent use.
type UserIterator struct {
	c      *Client
	p      SearchParams
	buf    []User
	i      int
	cur    User
	done   bool
	capped bool
	total  int
	err    error
}

// Next advances; false at the end or on error (see Err).
func (it *UserIterator) Next(ctx context.Context) bool {
	for {
		if it.i < len(it.buf) {
			it.cur = it.buf[it.i]
			it.i++
			return true
		}
		if it.done || it.err != nil || it.c == nil {
			return false
		}
		if (it.p.Page+1)*it.p.PerPage > SearchCap {
			// The next page would pass the cap: Auth0 would answer 400.
			it.done = true
			it.capped = it.total == 0 || it.total > it.p.Page*it.p.PerPage
			return false
		}
		page, err := it.c.SearchUsers(ctx, it.p)
		if err != nil {
			it.err = err
			return false
		}
		it.total = page.Total
		it.buf, it.i = page.Users, 0
		it.p.Page++
		if len(page.Users) < it.p.PerPage {
			it.done = true
		}
	}
}

// User is the current user.
func (it *UserIterator) User() User { return it.cur }

// Err is the error that stopped the iteration, if any.
func (it *UserIterator) Err() error { return it.err }

// Capped reports that the 1000-result cap cut the result short: more users
// match than could be read.
func (it *UserIterator) Capped() bool { return it.capped }

// Total is the number of matches Auth0 reported (on the last page read).
func (it *UserIterator) Total() int { return it.total }
