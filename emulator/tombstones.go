package emulator

import "time"

// A deleted user leaves the search index only after the index lag, like a
// new or changed one enters it: until then GET /users still finds it (as it
// was last indexed) while GET /users/{id} answers 404 at once.

// bury marks u, already out of the id, email and username indexes, as
// deleted at now: it stays in sorted, visible to search, for one index lag.
func (s *store) bury(u *user, now time.Time, lag time.Duration) {
	u.goneAt = now.Add(lag)
	s.gone = append(s.gone, u)
	s.purge(now)
}

// purge drops from sorted the deleted users search no longer sees. It runs
// on changes (under the write lock); until then searchVersion hides them.
func (s *store) purge(now time.Time) {
	if len(s.gone) == 0 {
		return
	}
	keep := s.gone[:0]
	for _, u := range s.gone {
		if now.Before(u.goneAt) {
			keep = append(keep, u)
		} else {
			s.removeSorted(u)
		}
	}
	clear(s.gone[len(keep):])
	s.gone = keep
}
