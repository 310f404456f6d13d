package publisher

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// FuzzEventFields checks the single-pass EVENT_FIELDS filter against
// encoding/json: for any valid JSON object, the filtered data is valid JSON
// holding exactly the wanted members, with user_id and created_at always.
func FuzzEventFields(f *testing.F) {
	f.Add(`{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","email":"a@b.c","identities":[{"user_id":1}]}`, "email")
	f.Add(`{ "email" : "x\"}" , "app_metadata":{"a":[1,{"b":"]}"}]},"n":-1.5e3,"t":true,"z":null}`, "app_metadata")
	f.Add(`{}`, "email")
	f.Add(`{"email\u0041":1,"email":2}`, "email")
	f.Add(`{"user_id":"x","user_id":"y"}`, "user_id")
	f.Fuzz(func(t *testing.T, raw, field string) {
		var want map[string]json.RawMessage
		if !json.Valid([]byte(raw)) || json.Unmarshal([]byte(raw), &want) != nil || want == nil {
			return
		}
		if field == "" {
			field = "email"
		}
		e := newEnvelope("https://t/", []string{field})
		u := auth0.User{UserID: "auth0|fallback", CreatedAt: "2026-01-01T00:00:00.000Z", Raw: json.RawMessage(raw)}
		got, err := e.data(u, e.fields)
		if err != nil {
			t.Fatalf("valid object %q refused: %v", raw, err)
		}
		var gotMap map[string]any
		if err := json.Unmarshal(got, &gotMap); err != nil {
			t.Fatalf("filtered %q → invalid JSON %q: %v", raw, got, err)
		}
		wantMap := map[string]any{"user_id": u.UserID, "created_at": u.CreatedAt}
		// encoding/json keeps the last duplicate (and matches escaped keys);
		// the filter keeps the first plain match. Compare only where the
		// input is unambiguous: decode the wanted keys one by one.
		for _, k := range []string{"user_id", "created_at", field} {
			if v, ok := want[k]; ok {
				var x any
				_ = json.Unmarshal(v, &x)
				wantMap[k] = x
			}
		}
		if countKey(raw, "user_id") > 1 || countKey(raw, "created_at") > 1 || countKey(raw, field) != 1 && want[field] != nil {
			return
		}
		if !reflect.DeepEqual(gotMap, wantMap) {
			t.Fatalf("raw %q field %q\n got %v\nwant %v", raw, field, gotMap, wantMap)
		}
	})
}

// countKey counts top-level members whose raw key is exactly k.
func countKey(raw, k string) int {
	n := 0
	_ = topLevelMembers([]byte(raw), func(key []byte, _, _ int) {
		if string(key) == k {
			n++
		}
	})
	return n
}

// FuzzAppendJSONString checks the escaper against encoding/json.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "auth0|abc", "a\"b\\c", "\x00\x01\x1f\x7f", "ünï\u2028", "\xff\xfe", "tab\there\nnl\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q → invalid JSON %s: %v", s, b, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q: got %q want %q", s, got, want)
		}
	})
}
