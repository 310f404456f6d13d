package workerclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DurableCommand is a command the durable transport accepts:
// CreateUserRequest, UpdateUserRequest, DeleteUserRequest, APIRequest.
type DurableCommand interface {
	durableCommand() string
}

func (CreateUserRequest) durableCommand() string { return CmdCreateUser }
func (UpdateUserRequest) durableCommand() string { return CmdUpdateUser }
func (DeleteUserRequest) durableCommand() string { return CmdDeleteUser }
func (APIRequest) durableCommand() string        { return CmdAPICall }

// DeleteUserRequest is the body of a durable users.delete.
type DeleteUserRequest struct {
	UserID string `json:"user_id"`
}

// Submit publishes cmd on <prefix>.cmd.<command> (stream <PREFIX>_COMMANDS)
// with id as its Nats-Msg-Id ([A-Za-z0-9_-]{1,128}) and returns once
// JetStream stored it. Submitting the same id again within the stream's
// duplicate window stores nothing new, and the worker never executes one id
// twice, so a retry after an unclear publish is safe. Wait reads the outcome.
func (c *Client) Submit(ctx context.Context, id string, cmd DurableCommand) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("workerclient: command id %q must match [A-Za-z0-9_-]{1,128}", id)
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("workerclient: %s: encode command: %w", cmd.durableCommand(), err)
	}
	m := nats.NewMsg(c.prefix + ".cmd." + cmd.durableCommand())
	m.Data = body
	if _, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("workerclient: submit %s %s: %w", cmd.durableCommand(), id, err)
	}
	return nil
}

// Outcome is the permanent result of a durable command, as published on
// <prefix>.results.<id>.
type Outcome struct {
	// ID is the command id.
	ID string
	// Err is the command's failure, or nil on success.
	Err *Error
	// Body is the success reply (the same as the request-reply command's).
	Body json.RawMessage
	// Truncated: the change happened but its reply was cut to fit
	// (header Auth0-Outcome-Truncated).
	Truncated bool
}

// User decodes the success body of users.create or users.update; it returns
// o.Err when the command failed.
func (o *Outcome) User() (*User, error) {
	if o.Err != nil {
		return nil, o.Err
	}
	return decodeChange[User](o.Body, o.Truncated, "outcome "+o.ID)
}

// APIResponse decodes the success body of api.call; it returns o.Err when
// the command failed.
func (o *Outcome) APIResponse() (*APIResponse, error) {
	if o.Err != nil {
		return nil, o.Err
	}
	return decodeChange[APIResponse](o.Body, o.Truncated, "outcome "+o.ID)
}

// ResultsStream is the stream holding the outcomes for a subject prefix
// (README "Durable" naming: "auth0" → "AUTH0_RESULTS").
func ResultsStream(prefix string) string {
	return strings.ToUpper(strings.ReplaceAll(prefix, ".", "_")) + "_RESULTS"
}

// Wait returns the outcome of command id, waiting until the worker
// publishes it or ctx ends. An outcome already published (kept 24h) is
// returned at once. Transient failures are retried by the worker and never
// published, so a command that keeps failing transiently ends in the
// dead-letter stream and Wait runs until ctx ends.
func (c *Client) Wait(ctx context.Context, id string) (*Outcome, error) {
	if !idPattern.MatchString(id) {
		return nil, fmt.Errorf("workerclient: command id %q must match [A-Za-z0-9_-]{1,128}", id)
	}
	cons, err := c.js.OrderedConsumer(ctx, ResultsStream(c.prefix), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.prefix + ".results." + id},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("workerclient: wait %s: %w", id, err)
	}
	for {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("workerclient: wait %s: %w", id, ctx.Err())
			}
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoHeartbeat) {
				continue
			}
			return nil, fmt.Errorf("workerclient: wait %s: %w", id, err)
		}
		r, rerr := parseReply(msg.Headers(), msg.Data())
		o := &Outcome{ID: id, Body: r.body, Truncated: r.truncated}
		var we *Error
		if errors.As(rerr, &we) {
			o.Err = we
		} else if rerr != nil {
			return nil, rerr
		}
		return o, nil
	}
}
