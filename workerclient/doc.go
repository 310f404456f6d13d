// Package workerclient is a typed Go client for services that use
// auth0-worker: it sends the worker's commands (README "Commands") and decodes the
// user events it publishes (README "The event", "User life cycle", "Bad data").
//
// Request-reply: one method per command of the micro service auth0-worker
// (CreateUser, UpdateUser, GetUser, DeleteUser, SearchUsers,
// SearchUsersByEmail, APICall), each with typed request and reply, and
// WithIdempotencyKey to make a retry safe.
//
// Durable: Submit publishes a command on <prefix>.cmd.<command> with its
// command id as Nats-Msg-Id (so publishing twice is harmless), and Wait
// reads its outcome from <prefix>.results.<id> (stream <PREFIX>_RESULTS).
//
// Failures are *Error values carrying status, code, message and Auth0's own
// error body; errors.Is matches them against the sentinels (ErrNotFound,
// ErrOverloaded, ...), errors.As extracts them.
//
// Errors of the bus itself are nats.go's, wrapped: errors.Is(err,
// nats.ErrNoResponders) when no worker serves the subject prefix,
// context.DeadlineExceeded when no reply came in time (for a create, check
// with SearchUsersByEmail or use the durable transport before retrying
// without an idempotency key).
//
// Events: DecodeEvent turns a message of <prefix>.users.> into an Event
// with its CloudEvents attributes and the user.
//
// The package depends only on nats.go (and its jetstream package), so a
// service can use it without the worker's code. The JSON Schemas of every
// body are in the repository's schemas folder and in the service's
// metadata (nats micro info auth0-worker).
package workerclient
