package auth0

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeUserEventGeneric is the generic path decodeEvent falls back to.
var decodeSeeds = []string{
	`{"offset":"o1","event":{"id":"evt_1","type":"user.created","data":{"object":{"user_id":"auth0|1","email":"a@b.c","created_at":"2026-01-02T03:04:05.678Z","identities":[{"user_id":5,"connection":"c","provider":"auth0","isSocial":false}],"app_metadata":{"x":[1,{"y":"}"}]}}}}}`,
	` { "event" : { "data" : { "object" : { "user_id" : "a\"b" , "email" : null } } , "id" : "e\u00e9" } } `,
	`{"event":{"id":"evt","data":{"object":{"user_id":"x","USER_ID":"y"}}}}`,
	`{"event":{"id":"evt","data":{"object":{"user_id":"x","user_id":"y"}}}}`,
	`{"Event":{"id":"evt","data":{"object":{"user_id":"x"}}}}`,
	`{"event":{"id":"evt","data":{"object":{"user_\u0069d":"x"}}}}`,
	`{"event":{"id":"evt","data":{"object":{"uſer_id":"x"}}}}`,
	`{"event":{"id":"evt","data":{"object":null}}}`,
	`{"event":{"id":"evt","data":{"object":{"user_id":5}}}}`,
	`{"event":{"id":"evt","data":{"object":{"identities":[{"user_id":true}]}}}}`,
	`{"event":{"id":1,"data":{"object":{}}}}`,
	`{"event":{"data":{"object":{"email":"\xff\xfe"}}}}`,
	`{"event":{"data":{"object":{"user_id":"x"}},"data":{"object":{"email":"y"}}}}`,
	`{"event":{"id":"evt","data":{"object":{"user_id":"x"}}}`,
	`{"event":{"data":{"object":{"identities":[]}}}}`,
	`{"event":{"data":{"object":{"identities":null,"user_id":"u"}}}}`,
	`{"event":{"data":{"object":{"identities":[{"user_id":-1.5e3,"isSocial":true,"provider":null},{"connection":"c\u0041"}]}}}}`,
	`{"event":{"data":{"object":{"identities":[null]}}}}`,
	`{"event":{"data":{"object":{"identities":[{"isSocial":"true"}]}}}}`,
	`{"event":{"data":{"object":{"identities":[{"IsSocial":true,"isSocial":false}]}}}}`,
	`{"event":{"data":{"object":{"identities":[{"user_id":"a","user_id":"b"}]}}}}`,
	`{"event":{"data":{"object":{"user_id":"a\\\"b\\","email":"x"}}}}`,
	`{"offset":"o3"}`,
	`[]`,
	``,
}

// FuzzDecodeUserEvent: the fast path, whenever it answers, agrees with the
// generic decoder (typed fields, Raw, event id); and decodeEvent as a whole
// answers like the generic decoder.
func FuzzDecodeUserEvent(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	// encoding/json's 10,000-level nesting limit, just over and just under.
	for _, n := range []int{9997, 9996} {
		f.Add(`{"event":{"data":{"object":{"user_id":"u","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}}}`)
	}
	f.Add(`{"event":{"data":{"object":{"user_id":"u\u00"}}}}`)
	f.Add(`{"event":{"data":{"object":{"user_id":"u"}}}} x`)
	f.Add(`{"event":{"data":{"object":{"user_id":"u","x":01}}}}`)
	f.Fuzz(func(t *testing.T, data string) {
		want, wantID, werr := decodeUserEventGeneric([]byte(data))
		u, id, ok := decodeUserEventFast([]byte(data))
		if ok {
			if werr != nil {
				t.Fatalf("fast path accepted what the decoder refuses (%v): %q", werr, data)
			}
			if want == nil {
				t.Fatalf("fast path found a user the decoder does not: %q", data)
			}
			if id != wantID {
				t.Fatalf("event id %q, want %q", id, wantID)
			}
			if !bytes.Equal(u.Raw, want.Raw) {
				t.Fatalf("Raw %q, want %q", u.Raw, want.Raw)
			}
			g, w := *u, *want
			g.Raw, w.Raw = nil, nil
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("user %+v, want %+v (%q)", g, w, data)
			}
		}
		ev, err := decodeEvent(SSEMessage{Event: "user.created", ID: "o", HasID: true, Data: data})
		switch {
		case werr != nil || want == nil:
			if err == nil {
				t.Fatalf("decodeEvent accepted %q", data)
			}
		case err != nil:
			t.Fatalf("decodeEvent: %v", err)
		case ev.EventID != wantID || ev.User == nil || ev.User.UserID != want.UserID || ev.User.CreatedAt != want.CreatedAt ||
			ev.User.Email != want.Email || !bytes.Equal(ev.User.Raw, want.Raw) || !reflect.DeepEqual(ev.User.Identities, want.Identities):
			t.Fatalf("decodeEvent %+v, want %+v", ev.User, want)
		}
	})
}

func TestDecodeUserEventFastTakesCommonShape(t *testing.T) {
	u, id, ok := decodeUserEventFast([]byte(decodeSeeds[0]))
	if !ok || id != "evt_1" || u.UserID != "auth0|1" || u.Email != "a@b.c" || u.CreatedAt != "2026-01-02T03:04:05.678Z" ||
		len(u.Identities) != 1 || u.Identities[0].UserID != "5" || !strings.HasPrefix(string(u.Raw), `{"user_id"`) || !strings.HasSuffix(string(u.Raw), `"}"}]}}`) {
		t.Fatalf("%v %q %+v %s", ok, id, u, u.Raw)
	}
	if cap(u.Raw) != len(u.Raw) {
		t.Fatal("Raw can be appended to in place, over the event's bytes")
	}
	for _, s := range []string{decodeSeeds[1], `{"event":{"data":{"object":{"identities":[]}}}}`,
		`{"event":{"data":{"object":{"identities":[{"user_id":-1.5e3,"isSocial":true,"provider":null},{"connection":"c\u0041"}]}}}}`} {
		if _, _, ok := decodeUserEventFast([]byte(s)); !ok {
			t.Errorf("fast path refused %s", s)
		}
	}
	for _, s := range decodeSeeds[2:9] {
		if _, _, ok := decodeUserEventFast([]byte(s)); ok {
			t.Errorf("fast path took %s (case folding, duplicates, escapes and type errors belong to encoding/json)", s)
		}
	}
}

func BenchmarkDecodeUserEvent(b *testing.B) {
	m := SSEMessage{Event: "user.created", ID: "o1", HasID: true, Data: decodeSeeds[0]}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEvent(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := decodeUserEventGeneric([]byte(m.Data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzJSONValid: jsonValid agrees with json.Valid.
func FuzzJSONValid(f *testing.F) {
	for _, s := range append(decodeSeeds, `-0.5e+7`, `01`, `1.`, `"\u12G4"`, `"a\x01"`, `[1,]`, `{"a":1,}`, ` true `, `nul`, `"\/\b"`,
		strings.Repeat("[", 10001)+strings.Repeat("]", 10001), strings.Repeat("[", 10000)+strings.Repeat("]", 10000)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := jsonValid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Fatalf("jsonValid %v, json.Valid %v: %q", got, want, s)
		}
	})
}
