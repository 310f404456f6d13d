package poller

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
)

var clientSeq atomic.Int64

// newClient is a real auth0 client for the emulator; ua tells replicas
// apart in the emulator's request log.
func newClient(t testing.TB, srv *emulatortest.Server, id, secret, ua string) *auth0.Client {
	t.Helper()
	if id == "" {
		id, secret = srv.ClientID, srv.ClientSecret
	}
	if ua == "" {
		ua = fmt.Sprintf("poller-test-%d", clientSeq.Add(1))
	}
	c, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: id, ClientSecret: secret, UserAgent: ua})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed creates users in the emulator (with events unless noEvent).
func seed(t testing.TB, e *emulator.Emulator, prefix string, n int, at func(i int) time.Time, noEvent bool) []string {
	t.Helper()
	us := make([]emulator.SeedUser, n)
	for i := range us {
		us[i] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|%s%06d", prefix, i), Email: fmt.Sprintf("%s%d@example.com", prefix, i), NoEvent: noEvent}
		if at != nil {
			us[i].CreatedAt = at(i)
		}
	}
	ids, err := e.CreateUsers(us)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
