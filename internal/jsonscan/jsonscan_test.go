package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestMembers(t *testing.T) {
	obj := []byte(` {"a": 1, "b\"c": {"x": [1, "}"]}, "d": "e\\"} `)
	var keys, vals []string
	ok := Members(obj, func(key []byte, vs, ve int) bool {
		keys = append(keys, string(key))
		vals = append(vals, string(obj[vs:ve]))
		return true
	})
	if !ok {
		t.Fatal("Members refused a valid object")
	}
	wantK := []string{"a", `b\"c`, "d"}
	wantV := []string{"1", `{"x": [1, "}"]}`, `"e\\"`}
	for i := range wantK {
		if keys[i] != wantK[i] || vals[i] != wantV[i] || !json.Valid([]byte(vals[i])) {
			t.Errorf("member %d: %q = %q, want %q = %q", i, keys[i], vals[i], wantK[i], wantV[i])
		}
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":1,}`, `{"a":1`, `{"a":"x}`, `{a:1}`} {
		if Members([]byte(bad), func([]byte, int, int) bool { return true }) {
			t.Errorf("Members accepted %q", bad)
		}
	}
	if !Members([]byte(`{}`), func([]byte, int, int) bool { t.Error("member in {}"); return true }) {
		t.Error("Members refused {}")
	}
}

func TestValueEndAndStringEnd(t *testing.T) {
	for in, want := range map[string]int{`"ab"x`: 4, `"a\"b"`: 6, `"a\\"b`: 5, `123,`: 3, `true}`: 4, `[1,[2]] `: 7, `"open`: -1, `[1,2`: -1, ``: -1} {
		if got := ValueEnd([]byte(in), 0); got != want {
			t.Errorf("ValueEnd(%q) = %d, want %d", in, got, want)
		}
	}
	if got := SkipSpace([]byte(" \t\r\nx"), 0); got != 4 {
		t.Errorf("SkipSpace = %d", got)
	}
}
