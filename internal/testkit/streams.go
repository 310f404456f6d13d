package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// Msg is one stored message read back from a stream.
type Msg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
	Time    time.Time // when the stream stored it
}

// Retry retries fn (each try with a fresh 2s context) every 50ms until it
// succeeds or within passes (NATS may be electing or reconnecting).
func Retry(within time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Msgs reads a stream's content by sequence.
func Msgs(t testing.TB, js jetstream.JetStream, stream string) []Msg {
	t.Helper()
	var out []Msg
	err := Retry(20*time.Second, func(ctx context.Context) error {
		out = out[:0]
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, Msg{Seq: seq, Subject: m.Subject, Header: m.Header, Data: m.Data, Time: m.Time})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read stream %s: %v", stream, err)
	}
	return out
}

// Count is a stream's message count, 0 while it cannot be read.
func Count(js jetstream.JetStream, stream string) uint64 {
	st, _ := state(js, stream)
	return st.Msgs
}

// state reads a stream's state within 2s; ok is false when it cannot.
func state(js jetstream.JetStream, stream string) (st jetstream.StreamState, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return st, false
	}
	info, err := s.Info(ctx)
	if err != nil {
		return st, false
	}
	return info.State, true
}

// WaitCount waits until stream holds at least n messages (0 while it cannot
// be read, e.g. NATS restarting) and returns when its last one was stored.
func WaitCount(t testing.TB, js jetstream.JetStream, stream string, n uint64, within time.Duration) time.Time {
	t.Helper()
	var last time.Time
	testwait.For(t, within, fmt.Sprintf("%d messages in %s", n, stream), func() bool {
		st, ok := state(js, stream)
		last = st.LastTime
		return ok && st.Msgs >= n
	})
	return last
}

// State is a stream's state; the test fails when it cannot be read.
func State(t testing.TB, js jetstream.JetStream, stream string) jetstream.StreamState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State
}

// UsersExactlyOnce waits until AUTH0_USERS holds len(ids) events, then
// asserts every user is there exactly once as a created event (subject
// auth0.users.created, type com.auth0.user.created) with Nats-Msg-Id equal
// to the CloudEvent id, and nothing else is. It returns the messages.
func UsersExactlyOnce(t testing.TB, js jetstream.JetStream, ids []string, within time.Duration) []Msg {
	t.Helper()
	WaitCount(t, js, "AUTH0_USERS", uint64(len(ids)), within)
	msgs := Msgs(t, js, "AUTH0_USERS")
	byUser, byMsgID := map[string]int{}, map[string]int{}
	for _, m := range msgs {
		var ev struct{ ID, Subject, Type string }
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("seq %d: not a CloudEvent: %v", m.Seq, err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id == "" || id != ev.ID {
			t.Errorf("seq %d: Nats-Msg-Id %q, CloudEvent id %q", m.Seq, id, ev.ID)
		}
		if m.Subject != "auth0.users.created" || ev.Type != "com.auth0.user.created" {
			t.Errorf("seq %d: subject %q type %q", m.Seq, m.Subject, ev.Type)
		}
		byUser[ev.Subject]++
		byMsgID[ev.ID]++
	}
	var bad []string
	for _, id := range ids {
		if byUser[id] != 1 {
			bad = append(bad, fmt.Sprintf("%s×%d", id, byUser[id]))
		}
		delete(byUser, id)
	}
	for id, n := range byUser {
		bad = append(bad, fmt.Sprintf("unexpected %s×%d", id, n))
	}
	for id, n := range byMsgID {
		if n > 1 {
			bad = append(bad, fmt.Sprintf("event %s stored %d times", id, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("%d users, %d events: not exactly once: %s", len(ids), len(msgs), strings.Join(bad[:min(len(bad), 8)], ", "))
	}
	return msgs
}

// FirstStoredAfter is the store time of the first message after at, or the
// zero time.
func FirstStoredAfter(msgs []Msg, at time.Time) time.Time {
	var first time.Time
	for _, m := range msgs {
		if m.Time.After(at) && (first.IsZero() || m.Time.Before(first)) {
			first = m.Time
		}
	}
	return first
}

// LagP99 is the 99th percentile, over the events stored in [from, to), of
// the time from the user's creation (the CloudEvent time) to the event's
// storing: the publish latency a consumer sees. n is how many events.
func LagP99(t testing.TB, msgs []Msg, from, to time.Time) (p99 time.Duration, n int) {
	t.Helper()
	var lags []time.Duration
	for _, m := range msgs {
		if m.Time.Before(from) || !m.Time.Before(to) {
			continue
		}
		var ev struct{ Time time.Time }
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("seq %d: %v", m.Seq, err)
		}
		lags = append(lags, m.Time.Sub(ev.Time))
	}
	if len(lags) == 0 {
		return 0, 0
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	return lags[(len(lags)*99+99)/100-1], len(lags)
}
