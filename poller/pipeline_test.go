package poller

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/publisher"
)

func TestPipelineDonePrefix(t *testing.T) {
	u := func(id string) auth0.User {
		return auth0.User{UserID: id, CreatedAt: "2026-01-02T03:04:05.000Z", Raw: []byte(`{}`)}
	}
	a, b, c, d := u("auth0|a"), u("auth0|b"), u("auth0|c"), u("auth0|d")
	noCreated := auth0.User{UserID: "auth0|x"}
	cases := []struct {
		name      string
		users     []auth0.User
		seen      []string
		failPub   []string
		failMark  bool
		max       int
		done, pub int
		wantErr   bool
	}{
		{"all new, a repeat in the batch", []auth0.User{a, b, c, a}, nil, nil, false, 0, 4, 3, false},
		{"seen ones skipped", []auth0.User{a, b, c}, []string{publisher.EventID(b)}, nil, false, 0, 3, 2, false},
		{"a failed publish stops the prefix", []auth0.User{a, b, c, d}, []string{publisher.EventID(b)}, []string{publisher.EventID(c)}, false, 0, 2, 2, true},
		{"mark failure: nothing done", []auth0.User{a, b}, nil, nil, true, 0, 0, 0, true},
		{"limit leaves the rest", []auth0.User{a, b, c, d}, []string{publisher.EventID(b)}, nil, false, 1, 2, 1, false},
		{"unusable user skipped", []auth0.User{noCreated, a}, nil, nil, false, 0, 2, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := newFakePublisher()
			pub.failIDs = map[string]bool{}
			for _, id := range tc.failPub {
				pub.failIDs[id] = true
			}
			dd := newMemDedupe()
			_ = dd.Mark(context.Background(), tc.seen)
			if tc.failMark {
				pl := &pipeline{pub: pub, dd: &failingMark{dd}, m: metrics.New(), log: slog.New(slog.DiscardHandler)}
				res, err := pl.process(context.Background(), SourceSearch, tc.users, tc.max)
				if err == nil || res.done != 0 {
					t.Fatalf("mark failure: done %d err %v", res.done, err)
				}
				return
			}
			pl := &pipeline{pub: pub, dd: dd, m: metrics.New(), log: slog.New(slog.DiscardHandler)}
			res, err := pl.process(context.Background(), SourceSearch, tc.users, tc.max)
			if (err != nil) != tc.wantErr || res.done != tc.done || res.published != tc.pub {
				t.Fatalf("done %d published %d err %v; want done %d published %d err %v", res.done, res.published, err, tc.done, tc.pub, tc.wantErr)
			}
			// Only what was acknowledged is marked.
			seen, _ := dd.Seen(context.Background(), []string{publisher.EventID(c)})
			if want := !contains(tc.failPub, publisher.EventID(c)) && (tc.max == 0) && containsUser(tc.users, c); seen[0] != want {
				t.Fatalf("c marked %v, want %v", seen[0], want)
			}
		})
	}
}

type failingMark struct{ *memDedupe }

func (f *failingMark) Mark(context.Context, []string) error { return errors.New("redis down") }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsUser(us []auth0.User, u auth0.User) bool {
	for _, x := range us {
		if x.UserID == u.UserID {
			return true
		}
	}
	return false
}
