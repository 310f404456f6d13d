package scaleout

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
)

// hookToken is the bearer token the emulator's event stream sends and the
// workers' receivers expect.
const hookToken = "scaleout-hook-token"

// hookStream makes the emulator POST every user.created/updated/deleted to
// the receivers in turn, every 5th event twice; its retries (100ms doubling
// to 1s, 30 attempts: ~25s) outlast a leader election.
func hookStream(t *testing.T, emu *emulator.Emulator, addrs []string) string {
	t.Helper()
	eps := make([]string, len(addrs))
	for i, a := range addrs {
		eps[i] = "http://" + a + "/auth0/events"
	}
	est, err := emu.CreateEventStream(emulator.EventStreamConfig{
		Subscriptions:        []string{"user.created", "user.updated", "user.deleted"},
		WebhookEndpoint:      eps[0],
		WebhookEndpoints:     eps[1:],
		WebhookAuthorization: emulator.WebhookAuthorization{Method: "bearer", Token: hookToken},
		Delivery:             emulator.DeliveryKnobs{DuplicateEvery: 5, MaxAttempts: 30, RetryBase: 100 * time.Millisecond, RetryMax: time.Second, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return est
}

// lifeEvents is the event ids the users stream must hold once, with their
// type: "<user>@<created_at>" per created user, "updated@<user>@<updated_at>"
// per distinct update.
type lifeEvents struct {
	mu   sync.Mutex
	want map[string]string
}

func (l *lifeEvents) created(t *testing.T, emu *emulator.Emulator, ids []string) {
	t.Helper()
	for _, id := range ids {
		obj, ok := emu.UserJSON(id)
		var u struct {
			CreatedAt string `json:"created_at"`
		}
		if !ok || json.Unmarshal(obj, &u) != nil || u.CreatedAt == "" {
			t.Fatalf("user %s: not in the emulator or no created_at", id)
		}
		l.add(id+"@"+u.CreatedAt, "user.created")
	}
}

func (l *lifeEvents) update(emu *emulator.Emulator, id string, n int) error {
	obj, err := emu.UpdateUser(id, map[string]any{"user_metadata": map[string]any{"n": n}})
	if err != nil {
		return err
	}
	var u struct {
		UpdatedAt string `json:"updated_at"`
	}
	if err := json.Unmarshal(obj, &u); err != nil || u.UpdatedAt == "" {
		return fmt.Errorf("update %s: no updated_at (%v)", id, err)
	}
	l.add("updated@"+id+"@"+u.UpdatedAt, "user.updated")
	return nil
}

func (l *lifeEvents) add(id, typ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.want[id] = typ
}

// updateDuring updates, every 50ms while cr creates, each user made since
// the last tick, and every 4th of the previous tick's a second time (a
// distinct updated_at: 50ms later). It returns when cr is done and every
// user got its updates.
func (l *lifeEvents) updateDuring(t *testing.T, emu *emulator.Emulator, cr *testkit.Creator) <-chan struct{} {
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		var seen int
		var again []string
		for {
			finished := false
			select {
			case <-cr.Done(): // before IDs: then IDs holds every user
				finished = true
			default:
			}
			ids := cr.IDs()
			for _, id := range again {
				if err := l.update(emu, id, 2); err != nil {
					t.Errorf("second update: %v", err)
					return
				}
			}
			again = again[:0]
			for i, id := range ids[seen:] {
				if err := l.update(emu, id, 1); err != nil {
					t.Errorf("update: %v", err)
					return
				}
				if (seen+i)%4 == 0 {
					again = append(again, id)
				}
			}
			seen = len(ids)
			if finished && len(again) == 0 {
				return
			}
			<-tk.C
		}
	}()
	return done
}

// exactlyOnce waits until AUTH0_USERS holds every wanted event, then asserts
// each is there exactly once (by Nats-Msg-Id) on the subject of its type,
// with the CloudEvent's id, type and subject (the user id) matching, and
// nothing else is. It returns the messages.
func (l *lifeEvents) exactlyOnce(t *testing.T, js jetstream.JetStream, within time.Duration) []testkit.Msg {
	t.Helper()
	testkit.WaitCount(t, js, "AUTH0_USERS", uint64(len(l.want)), within)
	msgs := testkit.Msgs(t, js, "AUTH0_USERS")
	got := map[string]int{}
	var bad []string
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		got[id]++
		var ce struct{ ID, Type, Subject string }
		if err := json.Unmarshal(m.Data, &ce); err != nil {
			t.Fatalf("seq %d: not a CloudEvent: %v", m.Seq, err)
		}
		typ, ok := l.want[id]
		if !ok {
			bad = append(bad, "unexpected "+id)
			continue
		}
		uid := strings.TrimPrefix(id, "updated@")
		uid = uid[:strings.LastIndexByte(uid, '@')]
		if m.Subject != "auth0.users."+strings.TrimPrefix(typ, "user.") || ce.Type != "com.auth0."+typ || ce.ID != id || ce.Subject != uid {
			bad = append(bad, fmt.Sprintf("%s on %s: %+v", id, m.Subject, ce))
		}
	}
	for id := range l.want {
		if got[id] != 1 {
			bad = append(bad, fmt.Sprintf("%s×%d", id, got[id]))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d events wanted, %d stored: not exactly once: %s", len(l.want), len(msgs), strings.Join(bad[:min(len(bad), 8)], ", "))
	}
	return msgs
}

// deliveriesDone waits for the event stream's deliveries: every one must
// end delivered (a 2xx after retries), both receivers must have accepted
// some, and some must have been accepted before the kill and after the
// election (the receivers took webhooks across the failure). It returns the
// attempts the receivers refused (by status code, 0: no answer), absorbed by
// retries.
func deliveriesDone(t *testing.T, emu *emulator.Emulator, est string, killed, elected time.Time) (refused map[int]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if failed, err := emu.WaitDeliveries(ctx, est); err != nil || failed != 0 {
		t.Fatalf("webhook deliveries: %d failed, %v", failed, err)
	}
	dels, err := emu.Deliveries(est)
	if err != nil {
		t.Fatal(err)
	}
	byEndpoint, refused := map[string]int{}, map[int]int{}
	var before, after, dups int
	for _, d := range dels {
		if d.Status != emulator.DeliveryDelivered {
			t.Errorf("delivery %s of %s: %s", d.ID, d.EventID, d.Status)
		}
		if d.Duplicate {
			dups++
		}
		for _, a := range d.Attempts {
			if a.StatusCode/100 != 2 {
				refused[a.StatusCode]++
				continue
			}
			byEndpoint[a.Endpoint]++
			if a.Time.Before(killed) {
				before++
			}
			if a.Time.After(elected) {
				after++
			}
		}
	}
	t.Logf("webhooks: %d deliveries (%d duplicates), accepted per receiver %v, %d before the kill, %d after the election; attempts refused (by status) and retried %v",
		len(dels), dups, byEndpoint, before, after, refused)
	if len(byEndpoint) != 2 || before == 0 || after == 0 || dups == 0 {
		t.Fatalf("the receivers did not take webhooks across the leader kill: per receiver %v, %d before the kill, %d after the election, %d duplicates", byEndpoint, before, after, dups)
	}
	return refused
}
