package check_test

import (
	"net"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/emulator"
)

func TestReceiverLine(t *testing.T) {
	e := newEnv(t)
	e.vars["EVENT_TYPES"] = "user.created,user.updated,user.deleted"
	e.vars["WEBHOOK_ADDR"] = "127.0.0.1:0"
	e.vars["WEBHOOK_BEARER_TOKEN"] = "hook-token-value"
	ok, out := e.run(t)
	if !ok {
		t.Fatal("check failed")
	}
	wantLine(t, out, "receiver", "PASS", "127.0.0.1:0", "bearer credentials", "address can be bound")
	wantLine(t, out, "auth0 events API", "PASS", "user.updated", "user.deleted")
	if strings.Contains(out, "hook-token-value") {
		t.Fatal("the webhook token was printed")
	}

	// An address already taken: a warning naming it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.vars["WEBHOOK_ADDR"] = ln.Addr().String()
	_, out = e.run(t)
	wantLine(t, out, "receiver", "WARN", "in use")

	// auto + life-cycle types, the Events API refused, no receiver: fails.
	delete(e.vars, "WEBHOOK_ADDR")
	delete(e.vars, "WEBHOOK_BEARER_TOKEN")
	e.em.Emulator.SetKnobs(func(k *emulator.Knobs) { k.EventsDisabled = true })
	e.vars["POLL_SOURCE"] = "auto"
	if ok, out = e.run(t); ok {
		t.Fatal("auto with updates wanted and no way to get them passed")
	}
	wantLine(t, out, "auth0 events API", "FAIL", "user.created only")
	wantLine(t, out, "receiver", "PASS", "off")
}
