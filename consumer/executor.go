package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// Client is the part of the Auth0 client the consumer uses. *auth0.Client
// satisfies it; tests may wrap one to inject failures.
type Client interface {
	GetUser(ctx context.Context, userID string) (*auth0.User, error)
	CreateUser(ctx context.Context, body json.RawMessage) (*auth0.User, error)
	UpdateUser(ctx context.Context, userID string, body json.RawMessage) (*auth0.User, error)
	DeleteUser(ctx context.Context, userID string) error
	UsersByEmail(ctx context.Context, email string) ([]auth0.User, error)
	SearchUsers(ctx context.Context, p auth0.SearchParams) (*auth0.UsersPage, error)
	SearchAll(p auth0.SearchParams) *auth0.UserIterator
	Raw(ctx context.Context, r auth0.RawRequest) (*auth0.RawResponse, error)
}

var _ Client = (*auth0.Client)(nil)

// executor turns one command body into a reply body or an *Error. It is
// shared by both transports and holds no state of its own.
type executor struct {
	client Client
	log    *slog.Logger
	cmds   *commandSet
}

// attempt carries what the durable transport knows about earlier attempts
// of the same command, for the ambiguous-create check.
type attempt struct {
	// redelivery is true when an earlier attempt may have run.
	redelivery bool
	// since is a lower bound of the first attempt's start (Auth0's
	// created_at of a user that attempt created is not earlier).
	since time.Time
}

// execute runs one command of the table. It never panics: a panic becomes
// a 500 and a log line. The reply body is JSON.
func (x *executor) execute(ctx context.Context, command string, data []byte, at attempt) (reply []byte, cerr *Error) {
	defer func() {
		if r := recover(); r != nil {
			x.log.Error("command panicked", "command", command, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply, cerr = nil, internalError(command)
		}
	}()
	cmd := x.cmds.byName[command]
	if cmd == nil {
		return nil, invalidf("unknown command %q", command)
	}
	call := Call{Client: x.client, Log: x.log, Redelivery: at.redelivery, Since: at.since}
	reply, err := cmd.Handler.run(ctx, call, data)
	if err != nil {
		return nil, classify(ctx, command, err)
	}
	return reply, nil
}

func userJSON(u *auth0.User) []byte {
	if u == nil {
		return []byte("null")
	}
	if len(u.Raw) > 0 {
		return u.Raw
	}
	b, _ := json.Marshal(u)
	return b
}

func usersJSON(us []auth0.User) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(us))
	for i := range us {
		out = append(out, userJSON(&us[i]))
	}
	return out
}

// runCreate creates the user; on a redelivery, a 409 for a user an earlier
// attempt created is that attempt's success.
func runCreate(ctx context.Context, call Call, c createCmd) ([]byte, error) {
	u, err := call.Client.CreateUser(ctx, c.body)
	if err == nil {
		return userJSON(u), nil
	}
	var ae *auth0.APIError
	if call.Redelivery && errors.As(err, &ae) && ae.Status == 409 {
		// An earlier attempt may have created the user and lost the reply:
		// if so this is the same command succeeding, not a conflict.
		if found, ferr := findCreated(ctx, call.Client, c, call.Since); ferr == nil && found != nil {
			call.Log.Info("create: an earlier attempt had created the user; reporting success", "user_id", found.UserID)
			return userJSON(found), nil
		} else if ferr != nil {
			return nil, ferr
		}
	}
	return nil, err
}

// findCreated looks for a user an earlier attempt of c created: by email in
// the same connection (Auth0 stores database emails lower-cased), else by
// the chosen user_id; created_at must not be before since.
func findCreated(ctx context.Context, client Client, c createCmd, since time.Time) (*auth0.User, error) {
	match := func(u *auth0.User) bool {
		if !createdSince(u.CreatedAt, since) {
			return false
		}
		inConn := false
		for _, id := range u.Identities {
			if id.Connection == c.connection && (c.userID == "" || string(id.UserID) == c.userID) {
				inConn = true
			}
		}
		return inConn
	}
	if c.email != "" {
		users, err := client.UsersByEmail(ctx, strings.ToLower(c.email))
		if err != nil {
			return nil, err
		}
		for i := range users {
			if match(&users[i]) {
				return &users[i], nil
			}
		}
		return nil, nil
	}
	if c.userID != "" {
		u, err := client.GetUser(ctx, "auth0|"+c.userID)
		var ae *auth0.APIError
		if errors.As(err, &ae) && ae.Status == 404 {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if match(u) {
			return u, nil
		}
	}
	return nil, nil
}

func createdSince(createdAt string, since time.Time) bool {
	if since.IsZero() {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, createdAt)
	if err != nil {
		return false
	}
	// Auth0 keeps milliseconds: compare at that precision.
	return !t.Before(since.Truncate(time.Millisecond))
}

func runUpdate(ctx context.Context, call Call, c updateCmd) ([]byte, error) {
	u, err := call.Client.UpdateUser(ctx, c.userID, c.patch)
	if err != nil {
		return nil, err
	}
	return userJSON(u), nil
}

func runGet(ctx context.Context, call Call, id string) ([]byte, error) {
	u, err := call.Client.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return userJSON(u), nil
}

func runDelete(ctx context.Context, call Call, id string) ([]byte, error) {
	if err := call.Client.DeleteUser(ctx, id); err != nil {
		return nil, err
	}
	return marshalNoEscape(map[string]any{"user_id": id, "deleted": true}), nil
}

type searchReply struct {
	Users []json.RawMessage `json:"users"`
	Total int               `json:"total"`
}

// runSearch reads one page when the limit fits one, else pages with the
// client's iterator up to the limit.
func runSearch(ctx context.Context, call Call, c searchCmd) ([]byte, error) {
	p := auth0.SearchParams{Query: c.query, Sort: c.sort, Fields: c.fields}
	if c.limit <= 100 {
		p.PerPage = c.limit
		page, err := call.Client.SearchUsers(ctx, p)
		if err != nil {
			return nil, err
		}
		users := page.Users
		if len(users) > c.limit {
			users = users[:c.limit]
		}
		return marshalNoEscape(searchReply{Users: usersJSON(users), Total: page.Total}), nil
	}
	it := call.Client.SearchAll(p)
	if it == nil {
		return nil, errors.New("search: the client returned no iterator")
	}
	var users []auth0.User
	for len(users) < c.limit && it.Next(ctx) {
		users = append(users, it.User())
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	total := it.Total()
	if total < len(users) {
		total = len(users)
	}
	return marshalNoEscape(searchReply{Users: usersJSON(users), Total: total}), nil
}

func runByEmail(ctx context.Context, call Call, email string) ([]byte, error) {
	users, err := call.Client.UsersByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	return marshalNoEscape(map[string]any{"users": usersJSON(users)}), nil
}

func runAPICall(ctx context.Context, call Call, r auth0.RawRequest) ([]byte, error) {
	resp, err := call.Client.Raw(ctx, r)
	if err != nil {
		return nil, err
	}
	out := *resp
	if out.Headers == nil {
		out.Headers = map[string]string{}
	}
	if len(out.Body) == 0 {
		out.Body = json.RawMessage(`""`)
	}
	// The client redacts JSON bodies; this also catches what it cannot
	// parse (fail closed).
	out.Body = redactBody(out.Body, replySecrets)
	return marshalNoEscape(out), nil
}
