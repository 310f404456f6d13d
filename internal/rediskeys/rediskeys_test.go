package rediskeys

import "testing"

func TestKeysFollowDesign(t *testing.T) {
	k := Keys{Prefix: "auth0w", Tenant: "tenant.eu.auth0.com"}
	cases := map[string]string{
		k.Seen("auth0|1@2024-01-01T00:00:00.000Z"): "auth0w:tenant.eu.auth0.com:seen:auth0|1@2024-01-01T00:00:00.000Z",
		k.Lease():            "auth0w:{tenant.eu.auth0.com}:lease",
		k.CursorSearch():     "auth0w:{tenant.eu.auth0.com}:cursor:search",
		k.CursorEvents():     "auth0w:{tenant.eu.auth0.com}:cursor:events",
		k.Cmd("c1"):          "auth0w:tenant.eu.auth0.com:cmd:c1",
		k.CmdLock("c1"):      "auth0w:tenant.eu.auth0.com:cmd:c1:lock",
		k.Idem("c1"):         "auth0w:tenant.eu.auth0.com:idem:c1",
		k.IdemLock("c1"):     "auth0w:tenant.eu.auth0.com:idem:c1:lock",
		k.SeenPrefix() + "x": k.Seen("x"),
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}
