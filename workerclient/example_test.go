package workerclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/workerclient"
)

// Create a user over request-reply and read it back. (Needs a worker on
// the NATS server, so it is compiled but not run.)
func ExampleClient_CreateUser() {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	c, err := workerclient.New(nc) // WithSubjectPrefix("auth0.tenant-a") for another prefix
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	u, err := c.CreateUser(ctx, workerclient.CreateUserRequest{
		Connection: "Username-Password-Authentication",
		Email:      "ada@example.com",
		Password:   "correct horse battery staple",
	}, workerclient.WithIdempotencyKey("signup-ada")) // a retry creates no second user
	switch {
	case errors.Is(err, workerclient.ErrConflict):
		fmt.Println("already exists")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("created", u.UserID)
	}
}

// Submit a durable command, then wait for its outcome. The command id makes
// a resubmission harmless. (Compiled, not run.)
func ExampleClient_Submit() {
	nc, _ := nats.Connect(nats.DefaultURL)
	c, _ := workerclient.New(nc)
	ctx := context.Background()
	id := "update-ada-42" // e.g. derived from the business event that caused it
	err := c.Submit(ctx, id, workerclient.UpdateUserRequest{
		UserID:        "auth0|6643f1...",
		AppMetadata:   map[string]any{"plan": "pro"},
		EmailVerified: func(b bool) *bool { return &b }(true),
	})
	if err != nil {
		log.Fatal(err)
	}
	o, err := c.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	u, err := o.User()
	if errors.Is(err, workerclient.ErrNotFound) {
		fmt.Println("no such user")
		return
	}
	fmt.Println("updated", u.UserID)
}

// Decode the events the worker publishes on <prefix>.users.>.
func ExampleDecodeEvent() {
	body := []byte(`{"specversion":"1.0","id":"auth0|42@2026-01-05T10:00:00.000Z",
	  "source":"https://tenant.eu.auth0.com/","type":"com.auth0.user.created","subject":"auth0|42",
	  "time":"2026-01-05T10:00:00.000Z","datacontenttype":"application/json",
	  "data":{"user_id":"auth0|42","email":"ada@example.com","created_at":"2026-01-05T10:00:00.000Z"}}`)
	ev, err := workerclient.DecodeEvent(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Kind(), ev.User.UserID, ev.User.Email, ev.Truncated)

	// A user too large to publish arrives truncated: fetch it with GetUser.
	ev, _ = workerclient.DecodeEvent([]byte(`{"specversion":"1.0","id":"deleted@auth0|7@2026-01-06T00:00:00.000Z",
	  "source":"https://tenant.eu.auth0.com/","type":"com.auth0.user.deleted","subject":"auth0|7",
	  "time":"2026-01-06T00:00:00.000Z","datacontenttype":"application/json","auth0truncated":true,
	  "data":{"user_id":"auth0|7","created_at":"2026-01-01T00:00:00.000Z","deleted_at":"2026-01-06T00:00:00.000Z"}}`))
	fmt.Println(ev.Kind(), ev.User.UserID, ev.User.DeletedAt, ev.Truncated)
	// Output:
	// user.created auth0|42 ada@example.com false
	// user.deleted auth0|7 2026-01-06T00:00:00.000Z true
}

// Errors carry the worker's status and code; errors.Is matches status
// sentinels (any error of that status) and code sentinels (that case only).
func ExampleError() {
	var err error = &workerclient.Error{Status: 503, Code: "overloaded", Message: "worker overloaded; retry later"}
	fmt.Println(errors.Is(err, workerclient.ErrUnavailable), errors.Is(err, workerclient.ErrOverloaded), errors.Is(err, workerclient.ErrNotFound))
	var we *workerclient.Error
	if errors.As(err, &we) {
		fmt.Println(we.Status, we.Code, we.Temporary())
	}
	// Output:
	// true true false
	// 503 overloaded true
}
