package testkit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishCreates publishes n durable users.create commands (Nats-Msg-Id =
// command id "<prefix>-NNN", email "<id>@example.com") and returns the ids.
// A publish that gets no ack (a stream electing its leader) is repeated: the
// id makes the repeat a duplicate.
func PublishCreates(t *testing.T, js jetstream.JetStream, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
		m := nats.NewMsg("auth0.cmd.users.create")
		m.Header.Set(jetstream.MsgIDHeader, ids[i])
		m.Data = fmt.Appendf(nil, `{"connection":"Username-Password-Authentication","email":"%s@example.com","password":"Passw0rd!%d-long"}`, ids[i], i)
		if err := Retry(20*time.Second, func(ctx context.Context) error { _, err := js.PublishMsg(ctx, m); return err }); err != nil {
			t.Fatalf("publish command %s: %v", ids[i], err)
		}
	}
	return ids
}

// OutcomesExactlyOnce waits until AUTH0_RESULTS holds an outcome for every
// id and asserts each is a success for the right user; a re-published
// stored outcome may repeat but must name the same user. It returns the user
// id per command.
func OutcomesExactlyOnce(t *testing.T, js jetstream.JetStream, ids []string, within time.Duration) map[string]string {
	t.Helper()
	var users map[string]string
	deadline := time.Now().Add(within)
	for {
		users = map[string]string{}
		for _, m := range Msgs(t, js, "AUTH0_RESULTS") {
			id := strings.TrimPrefix(m.Subject, "auth0.results.")
			if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
				t.Fatalf("command %s: error outcome %s: %s", id, code, m.Data)
			}
			var u struct {
				UserID string `json:"user_id"`
				Email  string `json:"email"`
			}
			if err := json.Unmarshal(m.Data, &u); err != nil || u.UserID == "" || u.Email != id+"@example.com" {
				t.Fatalf("command %s: outcome %s", id, m.Data)
			}
			if prev, ok := users[id]; ok && prev != u.UserID {
				t.Fatalf("command %s: two outcomes with different users %s and %s", id, prev, u.UserID)
			}
			users[id] = u.UserID
		}
		if len(users) >= len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v AUTH0_RESULTS holds outcomes for %d of %d commands", within, len(users), len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range ids {
		if users[id] == "" {
			t.Errorf("command %s: no outcome", id)
		}
	}
	return users
}
