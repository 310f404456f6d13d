package emulator

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fuzzUsers are evaluated against every query the parser accepts.
func fuzzUsers() []*user {
	docs := []string{
		`{"user_id":"auth0|abc","email":"a@example.com","name":"A B","email_verified":true,"logins_count":3,"created_at":"2024-01-01T00:00:00.000Z","updated_at":"2024-01-02T00:00:00.000Z","identities":[{"connection":"Username-Password-Authentication","user_id":"abc","provider":"auth0","isSocial":false}],"app_metadata":{"plan":"pro","n":1,"tags":["x","y"],"deep":{"k":"v"}},"user_metadata":{"a.b":"dotted"}}`,
		`{"user_id":"google-oauth2|1","email":"ÉLAN@example.com","created_at":"2025-06-01T10:00:00.123Z","last_login":"not a date","logins_count":"seven","blocked":null,"identities":[{"user_id":1234,"provider":"google-oauth2"}]}`,
		`{"user_id":"x"}`,
	}
	var out []*user
	for _, d := range docs {
		var doc map[string]any
		dec := json.NewDecoder(strings.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			panic(err)
		}
		created, _ := parseDate(valueString(doc["created_at"]))
		v := newVersion(doc, time.Time{})
		out = append(out, &user{id: valueString(doc["user_id"]), createdAt: created, cur: v})
	}
	return out
}

// FuzzLuceneParse: no input panics the parser; an accepted query evaluates
// and narrows without panicking; a refused one says why as a *QueryError.
func FuzzLuceneParse(f *testing.F) {
	for _, s := range []string{
		`email:"a@example.com"`, `name:jan*`, `created_at:[2024-01-01 TO *]`, `created_at:{* TO 2024-01-01T00:00:00.000Z]`,
		`logins_count:[1 TO 5}`, `(a OR b) AND NOT c`, `app_metadata.plan:pro`, `user_id:auth0\|abc`, `*:*`,
		`name:(x OR "y z")`, `-blocked:true +email:*`, `identities.connection:"Username-Password-Authentication"`,
	} {
		f.Add(s)
	}
	users := fuzzUsers()
	f.Fuzz(func(t *testing.T, q string) {
		n, err := parseQuery(q)
		if err != nil {
			var qe *QueryError
			if !errors.As(err, &qe) || qe.Msg == "" {
				t.Fatalf("%q: error %v is not a *QueryError with a message", q, err)
			}
			return
		}
		if n == nil {
			t.Fatalf("%q: nil node without error", q)
		}
		for _, u := range users {
			n.match(u, u.cur)
		}
		if b := createdBounds(n); b != nil {
			lo, hi := b.indexRange(users)
			if lo < 0 || hi > len(users) || lo > hi {
				t.Fatalf("%q: bad index range %d..%d", q, lo, hi)
			}
		}
	})
}

// FuzzListUsersQuery: any raw query string of GET /api/v2/users is either
// refused with a 400 naming the problem or answered without panicking.
func FuzzListUsersQuery(f *testing.F) {
	for _, s := range []string{
		"per_page=100&page=9&include_totals=true&sort=created_at:1&q=created_at%3A%5B2024-01-01+TO+*%5D",
		"page=-1", "per_page=101", "sort=logins_count:-1&fields=user_id,email&include_fields=false",
		"page=4611686018427387904&per_page=100", "q=%28%28", "include_totals=maybe",
	} {
		f.Add(s)
	}
	e := New(Config{Seed: 1})
	if _, err := e.CreateUsers([]SeedUser{
		{Email: "a@example.com", Indexed: true, Fields: map[string]any{"logins_count": 2}},
		{Email: "b@example.com", Indexed: true},
	}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, herr := parseSearchParams(vals)
		if herr != nil {
			if herr.status != 400 || herr.message == "" || (herr.code != "invalid_query_string" && herr.code != "invalid_paging") {
				t.Fatalf("%q: bad refusal %+v", raw, herr)
			}
			return
		}
		items, total := e.search(p, time.Now())
		if len(items) > p.perPage || total < len(items) {
			t.Fatalf("%q: %d items, total %d, per_page %d", raw, len(items), total, p.perPage)
		}
	})
}
