package publisher_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// Each type has its subject, CloudEvents type, id and time; data keeps
// user_id, created_at, updated_at (and deleted_at) under EVENT_FIELDS.
func TestLifeCycleEvents(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{EventFields: []string{"email"}})
	const ca, ua, da = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"
	raw := `{"user_id":"auth0|1","created_at":"` + ca + `","updated_at":"` + ua + `","email":"a@example.com","name":"x"}`
	users := []auth0.User{
		{UserID: "auth0|1", CreatedAt: ca, Raw: json.RawMessage(raw)},
		{UserID: "auth0|1", CreatedAt: ca, Raw: json.RawMessage(raw), Kind: publisher.TypeUpdated, EventTime: "2030-01-01T00:00:00Z"},
		// deleted_at absent: the event's time stands in.
		{UserID: "auth0|1", CreatedAt: ca, Raw: json.RawMessage(raw), Kind: publisher.TypeDeleted, EventTime: da},
	}
	res := p.PublishUsers(ctx(t), users)
	for i, r := range res {
		if !r.Acked {
			t.Fatalf("%d: %v", i, r.Err)
		}
	}
	msgs := e.messages(t)
	want := []struct{ subject, typ, id, time string }{
		{"auth0.users.created", "com.auth0.user.created", "auth0|1@" + ca, ca},
		{"auth0.users.updated", "com.auth0.user.updated", "updated@auth0|1@" + ua, ua},
		{"auth0.users.deleted", "com.auth0.user.deleted", "deleted@auth0|1@" + da, da},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, w := range want {
		var ce struct {
			ID, Type, Time string
			Data           map[string]any
		}
		if err := json.Unmarshal(msgs[i].Data, &ce); err != nil {
			t.Fatal(err)
		}
		if msgs[i].Subject != w.subject || ce.Type != w.typ || ce.ID != w.id || ce.Time != w.time || msgs[i].Header.Get(jetstream.MsgIDHeader) != w.id || res[i].EventID != w.id {
			t.Errorf("%d: subject %s type %s id %s time %s, want %+v", i, msgs[i].Subject, ce.Type, ce.ID, ce.Time, w)
		}
		if ce.Data["updated_at"] != ua || ce.Data["created_at"] != ca || ce.Data["name"] != nil {
			t.Errorf("%d: data %v", i, ce.Data)
		}
		if i == 2 && ce.Data["deleted_at"] != da { // absent from the object: the event's time is added
			t.Errorf("deleted data %v lacks deleted_at", ce.Data)
		}
	}
}

func TestLifeCycleBadTime(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	u := auth0.User{UserID: "auth0|1", CreatedAt: "2026-01-01T00:00:00Z", Raw: json.RawMessage(`{"user_id":"auth0|1","updated_at":"yesterday"}`), Kind: publisher.TypeUpdated}
	if _, _, err := p.Envelope(u); !errors.Is(err, publisher.ErrInvalidUser) || !strings.Contains(err.Error(), "updated_at") {
		t.Fatalf("err %v", err)
	}
	if pr := publisher.CheckKind(u); pr == nil || pr.Reason != publisher.ReasonBadEventTime {
		t.Fatalf("problem %v", pr)
	}
	if id := publisher.InvalidID(u); id != "invalid@auth0|1@updated@yesterday" {
		t.Fatalf("invalid id %q", id)
	}
}
