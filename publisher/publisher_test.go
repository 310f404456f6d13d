package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/publisher"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

// A user as Auth0 returns it (recordings/go-auth0-v1.45.0--TestUserManager_Read.yaml),
// with irregular spacing to prove data is copied byte for byte.
const chuck = `{"blocked":false,"created_at":"2023-01-25T19:00:26.539Z","email":"chuck878@example.com","email_verified":true,"family_name":"Sanchez","given_name":"Chuck","identities":[{"connection":"Username-Password-Authentication","user_id":"63d17c4a9d503d76c056c160","provider":"auth0","isSocial":false}],"name":"chuck878@example.com","nickname":"Chucky","picture":"https://example-picture-url.jpg","updated_at":"2023-01-25T19:00:26.539Z","user_id":"auth0|63d17c4a9d503d76c056c160","user_metadata":{"favourite_attack":  "roundhouse_kick" },"username":"test-user636","app_metadata":{"facts":["count_to_infinity_twice","kill_two_stones_with_one_bird","can_hear_sign_language"]}}`

func chuckUser() auth0.User {
	return auth0.User{UserID: "auth0|63d17c4a9d503d76c056c160", CreatedAt: "2023-01-25T19:00:26.539Z", Raw: json.RawMessage(chuck)}
}

func user(i int, createdAt string) auth0.User {
	id := fmt.Sprintf("auth0|%024x", i)
	raw := fmt.Sprintf(`{"user_id":%q,"created_at":%q,"email":"u%d@example.com","identities":[{"connection":"Username-Password-Authentication","user_id":"%024x","provider":"auth0","isSocial":false}],"app_metadata":{"n":%d}}`, id, createdAt, i, i, i)
	return auth0.User{UserID: id, CreatedAt: createdAt, Raw: json.RawMessage(raw)}
}

func users(n int, round string) []auth0.User {
	out := make([]auth0.User, n)
	for i := range out {
		out[i] = user(i, fmt.Sprintf("2026-03-01T10:%02d:%02d.%03dZ", i/60000%60, i/1000%60, i%1000))
		if round != "" {
			out[i].CreatedAt = round + out[i].CreatedAt[len(round):]
			out[i].Raw = json.RawMessage(strings.Replace(string(out[i].Raw), "2026-03-01", round, 1))
		}
	}
	return out
}

type env struct {
	srv   *testnats.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	names publisher.Names
}

func setup(t *testing.T, prefix string) *env {
	t.Helper()
	return setupOpts(t, prefix)
}

func setupOpts(t *testing.T, prefix string, opts ...testnats.Option) *env {
	t.Helper()
	srv := testnats.Start(t, opts...)
	nc := srv.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	n := publisher.NamesFor(prefix)
	if err := publisher.EnsureAll(ctx(t), js, n, publisher.StreamOptions{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, nc: nc, js: js, names: n}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func (e *env) publisher(t testing.TB, o publisher.Options) *publisher.Publisher {
	t.Helper()
	o.Names = e.names
	if o.Source == "" {
		o.Source = "https://tenant.eu.auth0.com/"
	}
	p, err := publisher.New(e.js, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) messages(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := e.js.Stream(ctx(t), e.names.Users)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx(t), seq)
		if err != nil {
			t.Fatal(err)
		}
		schemacheck.CheckEvent(t, m.Data)
		out = append(out, m)
	}
	return out
}

func TestStreamsCreatedPerDesign(t *testing.T) {
	e := setup(t, "auth0.tenant-a")
	for name, want := range map[string]struct {
		subject   string
		retention jetstream.RetentionPolicy
	}{
		"AUTH0_TENANT-A_USERS":    {"auth0.tenant-a.users.>", jetstream.LimitsPolicy},
		"AUTH0_TENANT-A_COMMANDS": {"auth0.tenant-a.cmd.>", jetstream.WorkQueuePolicy},
		"AUTH0_TENANT-A_RESULTS":  {"auth0.tenant-a.results.>", jetstream.LimitsPolicy},
		"AUTH0_TENANT-A_DLQ":      {"auth0.tenant-a.dlq.>", jetstream.LimitsPolicy},
	} {
		s, err := e.js.Stream(ctx(t), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := s.CachedInfo().Config
		if !slices.Equal(c.Subjects, []string{want.subject}) || c.Retention != want.retention || c.Storage != jetstream.FileStorage || c.Replicas != 1 {
			t.Fatalf("%s: %+v", name, c)
		}
	}
	s, _ := e.js.Stream(ctx(t), "AUTH0_TENANT-A_USERS")
	if c := s.CachedInfo().Config; c.Duplicates != 10*time.Minute || c.MaxAge != 720*time.Hour {
		t.Fatalf("users stream duplicates %v max age %v", c.Duplicates, c.MaxAge)
	}
	if got := e.names.UserCreatedSubject(); got != "auth0.tenant-a.users.created" {
		t.Fatal(got)
	}
	// Idempotent: a second EnsureAll (another replica) succeeds.
	if err := publisher.EnsureAll(ctx(t), e.js, e.names, publisher.StreamOptions{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSubjectClash(t *testing.T) {
	srv := testnats.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "AUTH0_USERS", Subjects: []string{"other.users.>"}}); err != nil {
		t.Fatal(err)
	}
	err := publisher.EnsureAll(ctx(t), js, publisher.NamesFor("auth0"), publisher.StreamOptions{}, nil)
	if !errors.Is(err, publisher.ErrSubjectClash) {
		t.Fatalf("err = %v, want ErrSubjectClash", err)
	}
	if !strings.Contains(err.Error(), "AUTH0_USERS") || !strings.Contains(err.Error(), "other.users.>") {
		t.Fatalf("error does not name the stream and its subjects: %v", err)
	}
}

func TestOperatorSettingsLeftAlone(t *testing.T) {
	srv := testnats.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	n := publisher.NamesFor("auth0")
	cfg := n.UsersStream(publisher.StreamOptions{})
	cfg.MaxAge = time.Hour
	cfg.Duplicates = 2 * time.Minute
	if _, err := js.CreateStream(ctx(t), cfg); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if _, err := publisher.EnsureStream(ctx(t), js, n.UsersStream(publisher.StreamOptions{}), log); err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx(t), n.Users)
	if c := s.CachedInfo().Config; c.MaxAge != time.Hour || c.Duplicates != 2*time.Minute {
		t.Fatalf("operator settings changed: max age %v duplicates %v", c.MaxAge, c.Duplicates)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "AUTH0_USERS") {
		t.Fatalf("no warning logged: %q", buf.String())
	}
}

func TestEnvelopeExact(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	res := p.PublishUsers(ctx(t), []auth0.User{chuckUser()})
	if !res[0].Acked || res[0].Err != nil || res[0].Duplicate || res[0].EventID != "auth0|63d17c4a9d503d76c056c160@2023-01-25T19:00:26.539Z" {
		t.Fatalf("result %+v", res[0])
	}
	msgs := e.messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "auth0.users.created" {
		t.Fatalf("subject %s", m.Subject)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "auth0|63d17c4a9d503d76c056c160@2023-01-25T19:00:26.539Z" {
		t.Fatalf("Nats-Msg-Id %q", got)
	}
	if got := m.Header.Get("Content-Type"); got != "application/cloudevents+json" {
		t.Fatalf("Content-Type %q", got)
	}
	want := `{"specversion":"1.0","id":"auth0|63d17c4a9d503d76c056c160@2023-01-25T19:00:26.539Z","source":"https://tenant.eu.auth0.com/","type":"com.auth0.user.created","subject":"auth0|63d17c4a9d503d76c056c160","time":"2023-01-25T19:00:26.539Z","datacontenttype":"application/json","data":` + chuck + `}`
	if string(m.Data) != want {
		t.Fatalf("body\n got %s\nwant %s", m.Data, want)
	}
	var ce map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &ce); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if len(ce) != 8 {
		t.Fatalf("%d top-level attributes", len(ce))
	}
}

func TestEnvelopeEscapesStrings(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{Source: "http://127.0.0.1:8081/"})
	u := auth0.User{UserID: "oddball|a\"b\\c\x01\xff", CreatedAt: "2026-01-01T00:00:00.000Z", Raw: json.RawMessage(`{"user_id":"x"}`)}
	_, body, err := p.Envelope(u)
	if err != nil {
		t.Fatal(err)
	}
	var ce struct{ ID, Subject, Source string }
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if ce.Subject != "oddball|a\"b\\c\x01\ufffd" || ce.ID != ce.Subject+"@2026-01-01T00:00:00.000Z" || ce.Source != "http://127.0.0.1:8081/" {
		t.Fatalf("%+v", ce)
	}
}

func TestEventFields(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{EventFields: []string{"email", "user_metadata", "created_at", "not_there"}})
	res := p.PublishUsers(ctx(t), []auth0.User{chuckUser()})
	if !res[0].Acked {
		t.Fatal(res[0].Err)
	}
	var ce struct{ Data json.RawMessage }
	if err := json.Unmarshal(e.messages(t)[0].Data, &ce); err != nil {
		t.Fatal(err)
	}
	// updated_at is kept too (README "User life cycle": dropping stale updates).
	want := `{"user_id":"auth0|63d17c4a9d503d76c056c160","created_at":"2023-01-25T19:00:26.539Z","updated_at":"2023-01-25T19:00:26.539Z","email":"chuck878@example.com","user_metadata":{"favourite_attack":  "roundhouse_kick" }}`
	if string(ce.Data) != want {
		t.Fatalf("data\n got %s\nwant %s", ce.Data, want)
	}
	// user_id and created_at are kept even when the raw object lacks them.
	_, body, err := p.Envelope(auth0.User{UserID: "auth0|x", CreatedAt: "2026-01-01T00:00:00.000Z", Raw: json.RawMessage(`{"email":"x@example.com"}`)})
	if err != nil || !bytes.Contains(body, []byte(`"data":{"user_id":"auth0|x","created_at":"2026-01-01T00:00:00.000Z","email":"x@example.com"}}`)) {
		t.Fatalf("%s %v", body, err)
	}
}

func TestDuplicateMsgID(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	first := p.PublishUsers(ctx(t), []auth0.User{chuckUser()})
	second := p.PublishUsers(ctx(t), []auth0.User{chuckUser()})
	if !first[0].Acked || first[0].Duplicate || !second[0].Acked || !second[0].Duplicate {
		t.Fatalf("first %+v second %+v", first[0], second[0])
	}
	if n := len(e.messages(t)); n != 1 {
		t.Fatalf("%d messages in the stream, want 1", n)
	}
	// Same user id, new created_at (deleted and created again): a new event.
	again := chuckUser()
	again.CreatedAt = "2026-02-01T00:00:00.000Z"
	third := p.PublishUsers(ctx(t), []auth0.User{again})
	if !third[0].Acked || third[0].Duplicate || len(e.messages(t)) != 2 {
		t.Fatalf("re-created user: %+v, %d messages", third[0], len(e.messages(t)))
	}
}

func TestAcksInOrder(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{MaxInFlight: 16})
	us := users(600, "")
	// Invalid users in the batch fail alone.
	us[10].Raw = nil
	us[20].CreatedAt = ""
	res := p.PublishUsers(ctx(t), us)
	if len(res) != len(us) {
		t.Fatalf("%d results", len(res))
	}
	var lastSeq uint64
	for i, r := range res {
		if i == 10 || i == 20 {
			if r.Acked || !errors.Is(r.Err, publisher.ErrInvalidUser) {
				t.Fatalf("invalid user %d: %+v", i, r)
			}
			continue
		}
		if !r.Acked || r.Err != nil || r.EventID != publisher.EventID(us[i]) || r.Seq <= lastSeq {
			t.Fatalf("result %d: %+v (previous seq %d)", i, r, lastSeq)
		}
		lastSeq = r.Seq
	}
	msgs := e.messages(t)
	if len(msgs) != 598 {
		t.Fatalf("%d messages", len(msgs))
	}
	j := 0
	for i := range us {
		if i == 10 || i == 20 {
			continue
		}
		if got := msgs[j].Header.Get("Nats-Msg-Id"); got != publisher.EventID(us[i]) || msgs[j].Sequence != res[i].Seq {
			t.Fatalf("message %d: id %s seq %d, want %s seq %d", j, got, msgs[j].Sequence, publisher.EventID(us[i]), res[i].Seq)
		}
		j++
	}
}

func TestConcurrentCallsShareTheBound(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{MaxInFlight: 4})
	var wg sync.WaitGroup
	all := make([][]publisher.Result, 4)
	for w := range 4 {
		wg.Go(func() { all[w] = p.PublishUsers(ctx(t), users(200, fmt.Sprintf("202%d", w))) })
	}
	wg.Wait()
	for w, res := range all {
		for i, r := range res {
			if !r.Acked {
				t.Fatalf("worker %d user %d: %v", w, i, r.Err)
			}
		}
	}
	if n := len(e.messages(t)); n != 800 {
		t.Fatalf("%d messages", n)
	}
}

func TestNATSOutageNoFalseAcks(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{AckTimeout: 300 * time.Millisecond})
	if r := p.PublishUsers(ctx(t), users(1, "2025")); !r[0].Acked {
		t.Fatal(r[0].Err)
	}
	e.srv.Shutdown()
	res := p.PublishUsers(ctx(t), users(50, ""))
	for i, r := range res {
		if r.Acked || r.Err == nil {
			t.Fatalf("user %d during the outage: %+v", i, r)
		}
	}
	// NATS back with its store: the same users publish, none is lost, and
	// whatever reached the stream during the outage is absorbed by Nats-Msg-Id.
	e.srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for !e.nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p2 := e.publisher(t, publisher.Options{AckTimeout: 5 * time.Second})
	var res2 []publisher.Result
	for {
		res2 = p2.PublishUsers(ctx(t), users(50, ""))
		if res2[0].Acked || time.Now().After(deadline) { // the stream may need a moment after restart
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, r := range res2 {
		if !r.Acked {
			t.Fatalf("user %d after the restart: %v", i, r.Err)
		}
	}
	if n := len(e.messages(t)); n != 51 {
		t.Fatalf("%d messages, want 51", n)
	}
}

func TestCancelledContext(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	c, cancel := context.WithCancel(context.Background())
	cancel()
	for i, r := range p.PublishUsers(c, users(20, "")) {
		if r.Acked || !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("user %d: %+v", i, r)
		}
	}
}

func TestLastCreatedAt(t *testing.T) {
	e := setup(t, "auth0")
	p := e.publisher(t, publisher.Options{})
	if got, ok, err := p.LastCreatedAt(ctx(t)); err != nil || ok || got != "" {
		t.Fatalf("empty stream: %q %v %v", got, ok, err)
	}
	us := users(3, "")
	us[0].CreatedAt, us[1].CreatedAt, us[2].CreatedAt = "2026-03-01T10:00:00.001Z", "2026-03-01T10:00:00.003Z", "2026-03-01T10:00:00.002Z"
	for _, r := range p.PublishUsers(ctx(t), us) {
		if !r.Acked {
			t.Fatal(r.Err)
		}
	}
	// Another subject of the users stream does not count.
	if _, err := e.js.Publish(ctx(t), "auth0.users.other", []byte(`{"time":"2099-01-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := p.LastCreatedAt(ctx(t))
	if err != nil || !ok || got != "2026-03-01T10:00:00.002Z" {
		t.Fatalf("LastCreatedAt = %q %v %v", got, ok, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	srv := testnats.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	n := publisher.NamesFor("auth0")
	for _, tc := range []struct {
		o    publisher.Options
		want string
	}{
		{publisher.Options{Source: "https://t/"}, "Names"},
		{publisher.Options{Names: n}, "Source"},
		{publisher.Options{Names: n, Source: "https://t/ x"}, "whitespace"},
		{publisher.Options{Names: n, Source: "https://t/", AckTimeout: -1}, "AckTimeout"},
		{publisher.Options{Names: n, Source: "https://t/", MaxInFlight: -1}, "MaxInFlight"},
		{publisher.Options{Names: n, Source: "https://t/", EventFields: []string{"app_metadata.x"}}, "EventFields"},
	} {
		if _, err := publisher.New(js, tc.o); !errors.Is(err, publisher.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want it to mention %s", tc.o, err, tc.want)
		}
	}
	if _, err := publisher.New(nil, publisher.Options{Names: n, Source: "https://t/"}); !errors.Is(err, publisher.ErrInvalidOptions) {
		t.Error("nil JetStream accepted")
	}
}

// Reproduction: a first start warned that the DLQ stream it had just
// created "differs from the defaults", and the DLQ had no max age.
func TestDLQStreamMaxAge(t *testing.T) {
	srv := testnats.Start(t)
	js, _ := jetstream.New(srv.Connect(t))
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	n := publisher.NamesFor("auth0")
	for range 2 { // first start, then a second replica or restart
		if err := publisher.EnsureAll(ctx(t), js, n, publisher.StreamOptions{}, log); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("warning on the worker's own streams: %s", buf.String())
	}
	s, _ := js.Stream(ctx(t), n.DLQ)
	if c := s.CachedInfo().Config; c.MaxAge != 336*time.Hour {
		t.Fatalf("DLQ max age %v, want 336h", c.MaxAge)
	}

	// An existing DLQ without a max age gets DLQ_MAX_AGE; one an operator
	// gave a max age keeps it.
	other := publisher.NamesFor("other")
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: other.DLQ, Subjects: []string{"other.dlq.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := publisher.EnsureStream(ctx(t), js, other.DLQStream(publisher.StreamOptions{DLQMaxAge: 48 * time.Hour}), log); err != nil {
		t.Fatal(err)
	}
	s, _ = js.Stream(ctx(t), other.DLQ)
	if c := s.CachedInfo().Config; c.MaxAge != 48*time.Hour {
		t.Fatalf("existing DLQ max age %v, want 48h", c.MaxAge)
	}
	if _, err := publisher.EnsureStream(ctx(t), js, other.DLQStream(publisher.StreamOptions{DLQMaxAge: time.Hour}), log); err != nil {
		t.Fatal(err)
	}
	s, _ = js.Stream(ctx(t), other.DLQ)
	if c := s.CachedInfo().Config; c.MaxAge != 48*time.Hour {
		t.Fatalf("operator's DLQ max age changed to %v", c.MaxAge)
	}
}
