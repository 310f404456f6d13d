package workerclient_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/schemas"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
	"github.com/auth0-worker/auth0-worker/workerclient"
)

func ptr[T any](v T) *T { return &v }

// TestEveryCommand runs each request-reply command through a real worker
// and checks the typed replies (and their raw JSON against the schemas).
func TestEveryCommand(t *testing.T) {
	w := startWorker(t)
	ctx := ctxT(t)

	u, err := w.c.CreateUser(ctx, workerclient.CreateUserRequest{
		Connection: conn, Email: "Ada@Example.com", Password: "Secret-123!", Name: "Ada",
		Nickname: "ada", UserMetadata: map[string]any{"team": "math"}, EmailVerified: ptr(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UserID, "auth0|") || u.Name != "Ada" || !u.EmailVerified || u.UserMetadata["team"] != "math" || u.CreatedAt == "" {
		t.Fatalf("created user: %+v", u)
	}
	schemacheck.Check(t, schemas.Reply("users.create"), u.Raw)

	got, err := w.c.GetUser(ctx, u.UserID)
	if err != nil || got.UserID != u.UserID || got.Email != u.Email {
		t.Fatalf("GetUser: %+v, %v", got, err)
	}
	schemacheck.Check(t, schemas.Reply("users.get"), got.Raw)

	up, err := w.c.UpdateUser(ctx, workerclient.UpdateUserRequest{UserID: u.UserID, Name: ptr("Ada L."), Blocked: ptr(true), Clear: []string{"nickname"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != "Ada L." || !up.Blocked || up.Nickname == "ada" {
		t.Fatalf("updated user: %+v", up)
	}

	byEmail, err := w.c.SearchUsersByEmail(ctx, u.Email)
	if err != nil || len(byEmail) != 1 || byEmail[0].UserID != u.UserID {
		t.Fatalf("SearchUsersByEmail: %+v, %v", byEmail, err)
	}

	res, err := w.c.SearchUsers(ctx, workerclient.SearchRequest{Query: `user_id:"` + u.UserID + `"`, Limit: 10, Fields: "user_id,name"})
	if err != nil || res.Total != 1 || len(res.Users) != 1 || res.Users[0].UserID != u.UserID || res.Users[0].Email != "" {
		t.Fatalf("SearchUsers: %+v, %v", res, err)
	}

	api, err := w.c.APICall(ctx, workerclient.APIRequest{Method: "GET", Path: "/users/" + strings.ReplaceAll(u.UserID, "|", "%7C"), Headers: map[string]string{"Accept": "application/json"}})
	if err != nil || api.Status != 200 || !strings.Contains(string(api.Body), u.UserID) {
		t.Fatalf("APICall: %+v, %v", api, err)
	}
	api, err = w.c.APICall(ctx, workerclient.APIRequest{Method: "GET", Path: "/users/auth0%7Cnobody"})
	if err != nil || api.Status != 404 {
		t.Fatalf("APICall of a missing user: Auth0's 404 belongs in the response, got %+v, %v", api, err)
	}

	if err := w.c.DeleteUser(ctx, u.UserID); err != nil {
		t.Fatal(err)
	}
	if err := w.c.DeleteUser(ctx, u.UserID); err != nil {
		t.Fatalf("deleting a deleted user is success: %v", err)
	}
	_, err = w.c.GetUser(ctx, u.UserID)
	var we *workerclient.Error
	if !errors.Is(err, workerclient.ErrNotFound) || !errors.As(err, &we) || we.Code != "not_found" || len(we.Auth0) == 0 {
		t.Fatalf("GetUser after delete: %v (%+v)", err, we)
	}
}

func TestIdempotencyKey(t *testing.T) {
	w := startWorker(t)
	ctx := ctxT(t)
	req := workerclient.CreateUserRequest{Connection: conn, Email: "once@example.com", Password: "Secret-123!"}
	a, err := w.c.CreateUser(ctx, req, workerclient.WithIdempotencyKey("order-42"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.c.CreateUser(ctx, req, workerclient.WithIdempotencyKey("order-42"))
	if err != nil {
		t.Fatalf("repeat with the same key: %v", err)
	}
	if a.UserID != b.UserID || w.em.Emulator.UserCount() != 1 {
		t.Fatalf("the key did not make the create happen once: %s, %s, %d users", a.UserID, b.UserID, w.em.Emulator.UserCount())
	}
	other := req
	other.Email = "twice@example.com"
	_, err = w.c.CreateUser(ctx, other, workerclient.WithIdempotencyKey("order-42"))
	wantErr(t, err, 409, "idempotency_key_reused", workerclient.ErrConflict, workerclient.ErrIdempotencyKeyReused)
	if w.em.Emulator.UserCount() != 1 {
		t.Fatal("a reused key executed its command")
	}
	if _, err := w.c.GetUser(ctx, a.UserID, workerclient.WithIdempotencyKey("bad key!")); err == nil || errors.Is(err, workerclient.ErrBadRequest) {
		t.Fatalf("a malformed key must be refused by the client before sending: %v", err)
	}
}

func TestNoWorkerIsNoResponders(t *testing.T) {
	w := startWorker(t)
	c, err := workerclient.New(w.nc, workerclient.WithSubjectPrefix("auth0.elsewhere"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctxT(t), "auth0|1"); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("no worker on the prefix: %v", err)
	}
	for _, bad := range []string{"", "a b", "auth0.>", ".auth0"} {
		if _, err := workerclient.New(w.nc, workerclient.WithSubjectPrefix(bad)); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}
