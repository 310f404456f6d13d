package workerclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
	"github.com/auth0-worker/auth0-worker/workerclient"
)

// eventOf returns the first stored user.created event of userID.
func eventOf(t *testing.T, w *worker, userID string) jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := w.js.OrderedConsumer(ctx, "AUTH0_USERS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{workerclient.EventSubject("auth0", workerclient.TypeUserCreated)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no event of %s: %v", userID, err)
		}
		if ev, err := workerclient.DecodeEvent(m.Data()); err == nil && ev.Subject == userID {
			return m
		}
	}
}

// TestDecodeRealEvents decodes events the worker's poller published for
// users created through the client.
func TestDecodeRealEvents(t *testing.T) {
	w := startWorker(t)
	ctx := ctxT(t)
	u, err := w.c.CreateUser(ctx, workerclient.CreateUserRequest{Connection: conn, Email: "ev@example.com", Password: "Secret-123!", Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	m := eventOf(t, w, u.UserID)
	schemacheck.CheckEvent(t, m.Data())
	ev, err := workerclient.DecodeEvent(m.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != workerclient.TypeUserCreated || ev.Kind() != "user.created" || ev.SpecVersion != "1.0" ||
		ev.ID != u.UserID+"@"+u.CreatedAt || ev.ID != m.Headers().Get("Nats-Msg-Id") ||
		ev.Subject != u.UserID || ev.Time != u.CreatedAt || ev.Source != w.em.URL+"/" ||
		ev.DataContentType != "application/json" || ev.Truncated {
		t.Fatalf("event attributes: %+v", ev)
	}
	if ev.User.UserID != u.UserID || ev.User.Name != "Eve" || ev.User.Email != "ev@example.com" || len(ev.User.Raw) == 0 {
		t.Fatalf("event user: %+v", ev.User)
	}
}

func TestDecodeEventRefusesOthers(t *testing.T) {
	for _, body := range []string{
		`not json`,
		`{"specversion":"0.3","id":"a@b","type":"com.auth0.user.created","data":{"user_id":"a"}}`,
		`{"specversion":"1.0","id":"x","type":"com.example.order.placed","data":{"user_id":"a"}}`,
		`{"specversion":"1.0","id":"a@b","type":"com.auth0.user.created","data":{}}`,
	} {
		if _, err := workerclient.DecodeEvent([]byte(body)); !errors.Is(err, workerclient.ErrNotAnEvent) {
			t.Errorf("DecodeEvent(%s) = %v, want ErrNotAnEvent", body, err)
		}
	}
}
