// Package rediskeys builds every Redis key in one place (listed in
// docs/architecture.md, "Redis keys").
// P = REDIS_KEY_PREFIX, T = host[:port] of the Auth0 base URL. Lease and
// cursors carry the {T} hash tag so they live in one Redis Cluster slot (the
// Lua scripts touch them together); per-event and per-command keys do not.
package rediskeys

// Keys builds keys for one prefix and tenant.
type Keys struct {
	Prefix string // REDIS_KEY_PREFIX, default "auth0w"
	Tenant string // host[:port] of the base URL
}

// Seen is P:T:seen:<event id>.
func (k Keys) Seen(eventID string) string { return k.Prefix + ":" + k.Tenant + ":seen:" + eventID }

// SeenPrefix is P:T:seen: (for the dedupe store, which appends ids).
func (k Keys) SeenPrefix() string { return k.Prefix + ":" + k.Tenant + ":seen:" }

// Lease is P:{T}:lease.
func (k Keys) Lease() string { return k.Prefix + ":{" + k.Tenant + "}:lease" }

// CursorSearch is P:{T}:cursor:search.
func (k Keys) CursorSearch() string { return k.Prefix + ":{" + k.Tenant + "}:cursor:search" }

// CursorEvents is P:{T}:cursor:events.
func (k Keys) CursorEvents() string { return k.Prefix + ":{" + k.Tenant + "}:cursor:events" }

// Cmd is P:T:cmd:<command id or idempotency key> (stored outcome).
func (k Keys) Cmd(id string) string { return k.Prefix + ":" + k.Tenant + ":cmd:" + id }

// CmdLock is P:T:cmd:<id>:lock (in-flight lock).
func (k Keys) CmdLock(id string) string { return k.Cmd(id) + ":lock" }

// Idem is P:T:idem:<key>, the stored outcome of a request-reply command with
// an Idempotency-Key: a key space of its own, so a caller's key can never
// pre-empt a durable command id (P:T:cmd:<id>) nor the other way round.
func (k Keys) Idem(key string) string { return k.Prefix + ":" + k.Tenant + ":idem:" + key }

// IdemLock is P:T:idem:<key>:lock, held while the keyed command runs.
func (k Keys) IdemLock(key string) string { return k.Idem(key) + ":lock" }
