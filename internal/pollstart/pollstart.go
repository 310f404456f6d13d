// Package pollstart is POLL_START, where a poller without a cursor begins:
// parsed once by config, read by the poller (README "Configuration").
package pollstart

import (
	"errors"
	"strings"
	"time"
)

// Mode is the kind of start point.
type Mode string

// The POLL_START forms.
const (
	// Now: users created from the first start on (the default).
	Now Mode = "now"
	// All: every existing user first (a one-time backfill).
	All Mode = "all"
	// Time: users created from Start.Time on.
	Time Mode = "time"
)

// Start is a parsed POLL_START. The zero value means Now.
type Start struct {
	Mode Mode
	// Time is set when Mode is Time (UTC).
	Time time.Time
}

// ErrSyntax is returned by Parse for a value that is none of the forms.
var ErrSyntax = errors.New("must be now, all or an RFC 3339 time such as 2024-01-02T03:04:05Z")

// Parse reads now (also empty), all or an RFC 3339 time.
func Parse(s string) (Start, error) {
	switch s = strings.TrimSpace(s); s {
	case "", string(Now):
		return Start{Mode: Now}, nil
	case string(All):
		return Start{Mode: All}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Start{}, ErrSyntax
	}
	return Start{Mode: Time, Time: t.UTC()}, nil
}

// Kind is the start's mode, with the zero value read as Now.
func (s Start) Kind() Mode {
	if s.Mode == "" {
		return Now
	}
	return s.Mode
}

// String is the POLL_START form of s.
func (s Start) String() string {
	if s.Kind() == Time {
		return s.Time.Format(time.RFC3339Nano)
	}
	return string(s.Kind())
}
