package workerclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/schemas"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
	"github.com/auth0-worker/auth0-worker/workerclient"
)

// TestDurableSubmitAndWait submits durable commands and waits for their
// outcomes on <prefix>.results.<id>: a wait begun before the submit, a
// resubmitted id (executed once), a permanent failure, and a wait for an
// outcome published long before.
func TestDurableSubmitAndWait(t *testing.T) {
	w := startWorker(t)
	ctx := ctxT(t)

	type waited struct {
		o   *workerclient.Outcome
		err error
	}
	early := make(chan waited, 1)
	go func() {
		o, err := w.c.Wait(ctx, "create-1")
		early <- waited{o, err}
	}()
	create := workerclient.CreateUserRequest{Connection: conn, Email: "durable@example.com", Password: "Secret-123!"}
	if err := w.c.Submit(ctx, "create-1", create); err != nil {
		t.Fatal(err)
	}
	if err := w.c.Submit(ctx, "create-1", create); err != nil {
		t.Fatalf("resubmitting an id: %v", err)
	}
	r := <-early
	if r.err != nil {
		t.Fatal(r.err)
	}
	u, err := r.o.User()
	if err != nil || u.Email != "durable@example.com" || u.UserID == "" {
		t.Fatalf("outcome: %+v, %v", u, err)
	}
	schemacheck.Check(t, schemas.Reply("users.create"), r.o.Body)

	if err := w.c.Submit(ctx, "update-missing", workerclient.UpdateUserRequest{UserID: "auth0|nobody", Name: ptr("x")}); err != nil {
		t.Fatal(err)
	}
	o, err := w.c.Wait(ctx, "update-missing")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.User(); !errors.Is(err, workerclient.ErrNotFound) || o.Err == nil || len(o.Err.Auth0) == 0 {
		t.Fatalf("failed outcome: %v, %+v", err, o.Err)
	}

	if err := w.c.Submit(ctx, "api-1", workerclient.APIRequest{Method: "GET", Path: "/users/" + strings.ReplaceAll(u.UserID, "|", "%7C")}); err != nil {
		t.Fatal(err)
	}
	if o, err = w.c.Wait(ctx, "api-1"); err != nil {
		t.Fatal(err)
	}
	if api, err := o.APIResponse(); err != nil || api.Status != 200 || !strings.Contains(string(api.Body), u.UserID) {
		t.Fatalf("api.call outcome: %+v, %v", api, err)
	}

	if err := w.c.Submit(ctx, "delete-1", workerclient.DeleteUserRequest{UserID: u.UserID}); err != nil {
		t.Fatal(err)
	}
	if o, err = w.c.Wait(ctx, "delete-1"); err != nil || o.Err != nil {
		t.Fatalf("delete outcome: %+v, %v", o, err)
	}
	schemacheck.Check(t, schemas.Reply("users.delete"), o.Body)

	// The first outcome is still there for a late waiter, and the resubmit
	// did not create a second user.
	o, err = w.c.Wait(ctx, "create-1")
	if err != nil || o.Err != nil {
		t.Fatalf("late wait: %+v, %v", o, err)
	}
	if n := w.em.Emulator.UserCount(); n != 0 {
		t.Fatalf("%d users left; the create ran more than once or the delete did not run", n)
	}

	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.c.Wait(short, "never-submitted"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context: %v", err)
	}
	if err := w.c.Submit(ctx, "bad id", create); err == nil {
		t.Fatal("a malformed command id was submitted")
	}
}
