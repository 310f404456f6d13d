package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// natsPermissions is the README's "NATS permissions" set-up: the worker
// replies only on _INBOX.> (no allow_responses), callers may publish only
// commands and read only their inboxes.
func natsPermissions(o *server.Options) {
	perms := func(pub, sub []string) *server.Permissions {
		return &server.Permissions{Publish: &server.SubjectPermission{Allow: pub}, Subscribe: &server.SubjectPermission{Allow: sub}}
	}
	o.Users = []*server.User{
		{Username: "worker", Password: "worker-pw", Permissions: perms(
			[]string{"$JS.API.>", "$JS.ACK.AUTH0_COMMANDS.>", "auth0.results.>", "auth0.dlq.>", "_INBOX.>"},
			[]string{"auth0.svc.>", "$SRV.>", "_INBOX.>"})},
		{Username: "caller", Password: "caller-pw", Permissions: perms(
			[]string{"auth0.svc.>", "auth0.cmd.>"},
			[]string{"_INBOX.>"})},
		{Username: "admin", Password: "admin-pw"},
	}
}

// The worker (serve) runs with least-privilege NATS permissions, and a
// caller's reply subject outside _INBOX.> is refused twice over: by the
// worker and by the server.
func TestE2EServeUnderNATSPermissions(t *testing.T) {
	srv := testnats.Start(t, natsPermissions)
	r := newE2ERigOn(t, testkit.ConnectNATS(t, srv, nats.UserInfo("admin", "admin-pw")), emulator.Config{})
	js := r.js
	ids, err := r.emu.Emulator.CreateUsers([]emulator.SeedUser{{Email: "perm@example.com", NoEvent: true}})
	if err != nil {
		t.Fatal(err)
	}
	p := r.start(r.env(r.emu.ClientID, r.emu.ClientSecret, "NATS_USER=worker", "NATS_PASSWORD=worker-pw"), "serve")
	testwait.For(t, 30*time.Second, "the worker to be ready", func() bool { return p.Ready() })

	caller := srv.Connect(t, nats.UserInfo("caller", "caller-pw"))
	body := []byte(`{"user_id":"` + ids[0] + `"}`)
	m, err := caller.Request("auth0.svc.users.get", body, 20*time.Second)
	if err != nil || m.Header.Get("Nats-Service-Error-Code") != "" {
		t.Fatalf("request-reply under permissions: %v %v", err, m)
	}
	// Durable: published by the caller, acked and answered by the worker.
	if err := caller.PublishMsg(&nats.Msg{Subject: "auth0.cmd.users.delete", Header: nats.Header{"Nats-Msg-Id": {"perm-1"}}, Data: body}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "the durable result", func() bool {
		s, err := js.Stream(context.Background(), "AUTH0_RESULTS")
		if err != nil {
			return false
		}
		_, err = s.GetLastMsgForSubject(context.Background(), "auth0.results.perm-1")
		return err == nil
	})

	// A reply subject under the prefix: the worker refuses it (counted,
	// never executed) and could not have published there anyway.
	if err := r.nc.PublishRequest("auth0.svc.users.get", "auth0.users.created", body); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "the refused request counted", func() bool {
		v, _ := p.Metric("auth0_worker_commands_total", `outcome="refused_reply"`)
		return v == 1
	})
	if n := testkit.Count(r.js, "AUTH0_USERS"); n != 0 {
		t.Fatalf("AUTH0_USERS holds %d messages", n)
	}

	// And the server backs it up: the worker's user cannot publish there.
	violations := make(chan error, 1)
	as := srv.Connect(t, nats.UserInfo("worker", "worker-pw"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err:
		default:
		}
	}))
	if err := as.Publish("auth0.users.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("async error %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server let the worker's user publish to auth0.users.created")
	}
}
