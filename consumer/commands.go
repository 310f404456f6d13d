package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The command table: one Command value says everything the transports need
// to know about a command. The micro endpoints (service.go), the durable
// subjects accepted (durable.go), the bound on metric labels, the
// reply-size rule (hostile.go) and the documentation test
// (commands_test.go) all read it; nothing else lists command names.
// docs/architecture.md ("Where to add things") walks through adding one.

// Transport is a set of transports a command is served on.
type Transport uint8

const (
	// TransportService: the request-reply micro endpoint <prefix>.svc.<name>.
	TransportService Transport = 1 << iota
	// TransportDurable: the durable queue subject <prefix>.cmd.<name>. Only
	// changes belong there: a read's answer would sit in the results stream.
	TransportDurable
	// TransportBoth is a change served on both transports.
	TransportBoth = TransportService | TransportDurable
)

// Command describes one command. Build the Handler with Decoded.
type Command struct {
	// Name as in the subjects: <prefix>.svc.<Name>, <prefix>.cmd.<Name>;
	// lower case letters, digits, '_' and '.' (required, unique).
	Name string
	// Transports the command is served on (required).
	Transports Transport
	// Read reports whether a request is a read: a read's success that is
	// too large for one message is answered 413 reply_too_large, a change's
	// success (Auth0 already made it) is reduced instead. Nil: a change.
	Read func(data []byte) bool
	// TooLargeHint ends the 413 message of a read, telling the caller how to
	// narrow it; default: narrow it with "fields" or a smaller "limit".
	TooLargeHint string
	// Summary is a change's success reduced to fit a message; default
	// {"user_id": <the body's user_id>, "truncated": true}.
	Summary func(body []byte) []byte
	// Handler decodes the body and calls Auth0 (required).
	Handler Handler
}

// Call is what a command's Auth0 call receives besides its decoded body.
type Call struct {
	// Client calls Auth0.
	Client Client
	// Log is the consumer's logger.
	Log *slog.Logger
	// Redelivery is true when an earlier durable attempt of the same
	// command may have run; Since is then a lower bound of its start.
	Redelivery bool
	Since      time.Time
}

// Handler is a command's decoding and Auth0 call, built by Decoded so that
// a body is validated exactly as it will be executed.
type Handler struct {
	validate func(data []byte) error
	run      func(ctx context.Context, call Call, data []byte) ([]byte, error)
}

// Decoded builds a Handler from a strict decoder (every error an *Error
// naming the field, see decodeObject) and the call that uses its result.
// The durable transport runs decode alone first, so an invalid command is
// settled as a 400 before any lock or Auth0 call.
func Decoded[T any](decode func(data []byte) (T, error), run func(ctx context.Context, call Call, req T) ([]byte, error)) Handler {
	return Handler{
		validate: func(data []byte) error { _, err := decode(data); return err },
		run: func(ctx context.Context, call Call, data []byte) ([]byte, error) {
			req, err := decode(data)
			if err != nil {
				return nil, err
			}
			return run(ctx, call, req)
		},
	}
}

// Command names, as in the subjects (<prefix>.svc.<name>, <prefix>.cmd.<name>).
const (
	CmdCreate        = "users.create"
	CmdUpdate        = "users.update"
	CmdGet           = "users.get"
	CmdDelete        = "users.delete"
	CmdSearch        = "users.search"
	CmdSearchByEmail = "users.search_by_email"
	CmdAPICall       = "api.call"
)

// Commands returns the built-in command table (README "Commands"), a fresh copy:
// Options.Commands defaults to it, and a program may append its own.
func Commands() []Command {
	return []Command{
		{Name: CmdCreate, Transports: TransportBoth, Handler: Decoded(decodeCreate, runCreate)},
		{Name: CmdUpdate, Transports: TransportBoth, Handler: Decoded(decodeUpdate, runUpdate)},
		{Name: CmdGet, Transports: TransportService, Read: always,
			TooLargeHint: "the user is larger than the NATS max payload; read fewer fields with users.search (\"fields\") or api.call GET /users/{id}?fields=...",
			Handler:      Decoded(decodeUserID, runGet)},
		{Name: CmdDelete, Transports: TransportBoth, Handler: Decoded(decodeUserID, runDelete)},
		{Name: CmdSearch, Transports: TransportService, Read: always, Handler: Decoded(decodeSearch, runSearch)},
		{Name: CmdSearchByEmail, Transports: TransportService, Read: always, Handler: Decoded(decodeByEmail, runByEmail)},
		{Name: CmdAPICall, Transports: TransportBoth, Read: isGetCall, Summary: apiCallSummary,
			TooLargeHint: "narrow it with the endpoint's fields/per_page query parameters",
			Handler:      Decoded(decodeAPICall, runAPICall)},
	}
}

func always([]byte) bool { return true }

// isGetCall: an api.call GET is a read, every other method a change.
func isGetCall(data []byte) bool {
	var r struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(data, &r)
	return r.Method == "GET"
}

// commandSet is a validated command table, looked up by name.
type commandSet struct {
	list   []Command
	byName map[string]*Command
}

var commandNameRe = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)*$`)

// newCommandSet checks a table: names valid and unique, transports and
// handler set. Errors wrap ErrConfig.
func newCommandSet(cmds []Command) (*commandSet, error) {
	s := &commandSet{list: slices.Clone(cmds), byName: map[string]*Command{}}
	for i := range s.list {
		c := &s.list[i]
		switch {
		case !commandNameRe.MatchString(c.Name):
			return nil, fmt.Errorf("%w: command name %q must be dot-separated tokens of [a-z0-9_]", ErrConfig, c.Name)
		case s.byName[c.Name] != nil:
			return nil, fmt.Errorf("%w: command %q is listed twice", ErrConfig, c.Name)
		case c.Transports&TransportBoth == 0:
			return nil, fmt.Errorf("%w: command %q has no transport", ErrConfig, c.Name)
		case c.Handler.run == nil:
			return nil, fmt.Errorf("%w: command %q has no Handler (build it with Decoded)", ErrConfig, c.Name)
		}
		s.byName[c.Name] = c
	}
	if len(s.list) == 0 {
		return nil, fmt.Errorf("%w: no command", ErrConfig)
	}
	return s, nil
}

// on returns the command named name if it is served on t, else nil.
func (s *commandSet) on(t Transport, name string) *Command {
	if c := s.byName[name]; c != nil && c.Transports&t != 0 {
		return c
	}
	return nil
}

// names lists the commands served on t, in table order.
func (s *commandSet) names(t Transport) []string {
	var out []string
	for _, c := range s.list {
		if c.Transports&t != 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

// label bounds a metric label: a name of the table served on t, else
// "unknown" (durable subjects are chosen by callers).
func (s *commandSet) label(t Transport, name string) string {
	if s.on(t, name) != nil {
		return name
	}
	return "unknown"
}

// durableList is the accepted durable subjects for an error message.
func (s *commandSet) durableList(prefix string) string {
	return prefix + ".cmd." + strings.Join(s.names(TransportDurable), "|")
}
