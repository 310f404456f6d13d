package publisher_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// bigUser is a user of about n bytes of metadata.
func bigUser(id string, n int) auth0.User {
	raw := `{"user_id":"` + id + `","created_at":"2026-03-01T10:00:00.000Z","updated_at":"2026-03-02T10:00:00.000Z","email":"big@example.com","name":"Big","user_metadata":{"blob":"` + strings.Repeat("x", n) + `"}}`
	return auth0.DecodeUser([]byte(raw))
}

func smallMaxPayload(o *server.Options) { o.MaxPayload = 1 << 20 }

// A user over the server's max payload is published truncated (README
// "Bad data"): data reduced to user_id, created_at, updated_at and — only when
// EVENT_FIELDS allows it — email; auth0truncated true. Before, the publish
// failed "maximum payload exceeded" forever.
func TestTruncatedEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		email  bool
	}{{"all fields", nil, true}, {"fields with email", []string{"email", "user_metadata"}, true}, {"fields without email", []string{"name", "user_metadata"}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := setupWith(t, "auth0", smallMaxPayload)
			p := e.publisher(t, publisher.Options{EventFields: tc.fields})
			us := []auth0.User{bigUser("auth0|big", 1_100_000), user(1, "2026-03-01T10:00:00.001Z")}
			res := p.PublishUsers(ctx(t), us)
			if !res[0].Acked || !res[0].Truncated || !res[1].Acked || res[1].Truncated {
				t.Fatalf("results %+v / %+v", res[0], res[1])
			}
			msgs := e.messages(t)
			var ev struct {
				ID        string         `json:"id"`
				Truncated any            `json:"auth0truncated"`
				Data      map[string]any `json:"data"`
			}
			if err := json.Unmarshal(msgs[0].Data, &ev); err != nil {
				t.Fatal(err)
			}
			want := []string{"created_at", "updated_at", "user_id"}
			if tc.email {
				want = []string{"created_at", "email", "updated_at", "user_id"}
			}
			keys := make([]string, 0, len(ev.Data))
			for k := range ev.Data {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if ev.Truncated != true || ev.ID != publisher.EventID(us[0]) || !slices.Equal(keys, want) || msgs[0].Header.Get(jetstream.MsgIDHeader) != ev.ID {
				t.Fatalf("truncated event: auth0truncated %v, id %s, data members %v want %v", ev.Truncated, ev.ID, keys, want)
			}
			if strings.Contains(string(msgs[1].Data), "auth0truncated") {
				t.Fatal("a normal event carries auth0truncated")
			}
		})
	}
}

// Unusable users are never published as events; dead letters go to
// <prefix>.dlq.users.invalid with their headers, the body cut to fit.
func TestDeadLetters(t *testing.T) {
	e := setupWith(t, "auth0", smallMaxPayload)
	p := e.publisher(t, publisher.Options{})
	bad := auth0.DecodeUser([]byte(`{"user_id":"auth0|x","created_at":"not-a-date"}`))
	if r := p.PublishUsers(ctx(t), []auth0.User{bad}); r[0].Acked || r[0].Err == nil {
		t.Fatalf("unusable user published: %+v", r[0])
	}
	huge := bigUser("auth0|huge", 1_200_000)
	res := p.PublishDeadLetters(ctx(t), []publisher.DeadLetter{
		{ID: publisher.InvalidID(bad), Reason: bad.Problem.Reason, Source: "search", Detail: "created_at: bad\r\nX-Injected: 1", Body: bad.Raw},
		{ID: "invalid@huge", Reason: "unpublishable", Source: "events", Body: huge.Raw},
		{ID: publisher.OversizedID("off-7"), Reason: publisher.ReasonSSEMessageTooLarge, Source: "events", Offset: "off-7"},
	})
	for i, r := range res {
		if !r.Acked {
			t.Fatalf("dead letter %d: %v", i, r.Err)
		}
	}
	s, _ := e.js.Stream(ctx(t), e.names.DLQ)
	m1, _ := s.GetMsg(ctx(t), 1)
	m2, _ := s.GetMsg(ctx(t), 2)
	m3, _ := s.GetMsg(ctx(t), 3)
	if m1.Subject != "auth0.dlq.users.invalid" || m1.Header.Get("Nats-Msg-Id") != "invalid@auth0|x@not-a-date" || m1.Header.Get("Dlq-Reason") != "bad_created_at" || m1.Header.Get("Dlq-Source") != "search" || string(m1.Data) != string(bad.Raw) {
		t.Fatalf("dead letter 1: %s %v %s", m1.Subject, m1.Header, m1.Data)
	}
	if strings.ContainsAny(m1.Header.Get("Dlq-Detail"), "\r\n") || m1.Header.Get("X-Injected") != "" {
		t.Fatalf("detail header not one line: %q", m1.Header.Get("Dlq-Detail"))
	}
	if len(m2.Data) == 0 || len(m2.Data) >= len(huge.Raw) || len(m2.Data) > 1<<20 {
		t.Fatalf("dead letter body %d bytes for a %d-byte user: not cut to fit", len(m2.Data), len(huge.Raw))
	}
	if len(m3.Data) != 0 || m3.Header.Get("Dlq-Offset") != "off-7" || m3.Header.Get("Dlq-Reason") != "sse_message_too_large" {
		t.Fatalf("oversized message dead letter: %v %d bytes", m3.Header, len(m3.Data))
	}
}

// Dead-letter ids: readable with a usable user_id, a SHA-256 of the
// canonical JSON without one (member order and spacing do not matter).
func TestInvalidID(t *testing.T) {
	a := auth0.DecodeUser([]byte(`{"email":"a@b.c", "created_at":12}`))
	b := auth0.DecodeUser([]byte(`{"created_at":12,"email":"a@b.c"}`))
	if ia, ib := publisher.InvalidID(a), publisher.InvalidID(b); ia != ib || len(ia) != len("invalid@")+64 {
		t.Fatalf("ids %q %q", ia, ib)
	}
	c := auth0.DecodeUser([]byte(`{"user_id":"auth0|1","created_at":1700000000}`))
	if id := publisher.InvalidID(c); id != "invalid@auth0|1@1700000000" {
		t.Fatalf("id %q", id)
	}
	d := auth0.DecodeUser([]byte(`{"user_id":"auth0|1","created_at":"a\nb"}`))
	if id := publisher.InvalidID(d); strings.ContainsAny(id, "\r\n") || len(id) != len("invalid@")+64 {
		t.Fatalf("id %q", id)
	}
}

// The stream's tail skips messages that are not this worker's CloudEvents.
func TestLastCreatedAtSkipsForeignMessages(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	if r := p.PublishUsers(ctx(t), []auth0.User{user(1, "2026-03-01T10:00:00.001Z")}); !r[0].Acked {
		t.Fatal(r[0].Err)
	}
	for _, body := range []string{`garbage`, `{"time":"2099-01-01T00:00:00Z"}`, `{"specversion":"1.0","source":"https://other/","type":"com.auth0.user.created","time":"2099-01-01T00:00:00Z"}`} {
		if _, err := e.js.Publish(ctx(t), "auth0.users.created", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := p.LastCreatedAt(ctx(t))
	if err != nil || !ok || got != "2026-03-01T10:00:00.001Z" {
		t.Fatalf("LastCreatedAt = %q %v %v", got, ok, err)
	}
	only := setup(t, "auth0")
	q := only.publisher(t, publisher.Options{})
	if _, err := only.js.Publish(ctx(t), "auth0.users.created", []byte(`garbage`)); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := q.LastCreatedAt(ctx(t)); err != nil || ok {
		t.Fatalf("only foreign messages: %q %v %v", got, ok, err)
	}
}

func setupWith(t *testing.T, prefix string, opts ...testnats.Option) *env {
	t.Helper()
	return setupOpts(t, prefix, opts...)
}
