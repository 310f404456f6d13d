package auth0

import "time"

// Test hooks for the external (auth0_test) tests, which cannot import the
// emulator from package auth0 (the emulator imports auth0's types).

var EscapeID = escapeID

// BlockedUntil is the time before which the client sends nothing (after a 429).
func BlockedUntil(c *Client) time.Time { return c.gate.blockedUntil() }
