package consumer

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The seam proven: this file adds a command through the table — one
// Command value and its Auth0 call, nothing else in the package — and runs
// it end to end over request-reply and the durable queue against real
// NATS, real Redis and the emulator.

// blockCommand is users.block: {"user_id": "..."} → PATCH the user with
// blocked=true; a change, on both transports.
var blockCommand = Command{
	Name:       "users.block",
	Transports: TransportBoth,
	Handler: Decoded(decodeUserID, func(ctx context.Context, call Call, id string) ([]byte, error) {
		u, err := call.Client.UpdateUser(ctx, id, json.RawMessage(`{"blocked":true}`))
		if err != nil {
			return nil, err
		}
		return userJSON(u), nil
	}),
}

func TestSeamCommandAddedThroughTheTable(t *testing.T) {
	e := newEnv(t, envConfig{opts: func(o *Options) { o.Commands = append(Commands(), blockCommand) }})
	newUser := func(email string) string {
		r := e.request(CmdCreate, `{"connection":"`+conn+`","email":"`+email+`","password":"Secret-123!"}`, nil)
		id, _ := r.json(t)["user_id"].(string)
		if r.status != 200 || id == "" {
			t.Fatalf("create %s: %d %s", email, r.status, r.body)
		}
		return id
	}
	blocked := func(id string) bool {
		r := e.request(CmdGet, `{"user_id":"`+id+`"}`, nil)
		b, _ := r.json(t)["blocked"].(bool)
		return b
	}

	// Request-reply: the endpoint exists (micro INFO) and blocks the user.
	info, err := e.nc.Request("$SRV.INFO."+ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var si micro.Info
	if err := json.Unmarshal(info.Data, &si); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(si.Endpoints, func(ep micro.EndpointInfo) bool { return ep.Subject == "auth0.svc.users.block" }) {
		t.Fatalf("INFO lacks auth0.svc.users.block: %s", info.Data)
	}
	a := newUser("block-a@example.com")
	if blocked(a) {
		t.Fatal("a new user is already blocked")
	}
	if r := e.request("users.block", `{"user_id":"`+a+`"}`, nil); r.status != 200 || r.json(t)["blocked"] != true {
		t.Fatalf("users.block: %d %s", r.status, r.body)
	}
	if !blocked(a) {
		t.Fatal("users.block replied but Auth0 has the user unblocked")
	}
	// Its decoder is the table's: a bad body is a 400 naming the field.
	wantCode(t, e.request("users.block", `{"user":"x"}`, nil), 400, CodeInvalidCommand)

	// Durable: accepted on auth0.cmd.users.block, result published.
	b := newUser("block-b@example.com")
	e.publishCmd("users.block", "block-1", `{"user_id":"`+b+`"}`)
	res := e.waitResult("block-1")
	if res.Header.Get(HeaderErrorCode) != "" || !strings.Contains(string(res.Data), `"blocked":true`) || !blocked(b) {
		t.Fatalf("durable users.block: %v %s", res.Header, res.Data)
	}
	// An invalid body is settled as a 400 and dead-lettered before Auth0.
	e.publishCmd("users.block", "block-bad", `{"user_id":""}`)
	if r := e.waitResult("block-bad"); r.Header.Get(HeaderErrorCode) != "400" {
		t.Fatalf("invalid durable users.block: %v %s", r.Header, r.Data)
	}
	e.waitDLQ("auth0.dlq.cmd.users.block")

	// Metrics carry the new name, both transports.
	for _, tr := range []string{"svc", "cmd"} {
		if n := testutil.ToFloat64(e.m.Commands.WithLabelValues("users.block", tr, "ok")); n != 1 {
			t.Errorf("commands_total{users.block,%s,ok} = %v, want 1", tr, n)
		}
	}
	if n := testutil.ToFloat64(e.m.DLQ.WithLabelValues("users.block")); n != 1 {
		t.Errorf("dlq_total{users.block} = %v, want 1", n)
	}
	e.waitSettled(10 * time.Second)
}
