package form

import (
	"net/url"
	"reflect"
	"testing"
)

func TestBody(t *testing.T) {
	typed := func(name, v string) any {
		if name == "blocked" && v == "true" {
			return true
		}
		return v
	}
	for _, c := range []struct {
		form   string
		scalar func(string, string) any
		want   map[string]any
	}{
		{"a=1&b=2", nil, map[string]any{"a": "1", "b": "2"}},
		{"blocked=true&name=true", typed, map[string]any{"blocked": true, "name": "true"}},
		{"m%5Bplan%5D=pro&m%5Ba%5D%5Bb%5D=1", typed, map[string]any{"m": map[string]any{"plan": "pro", "a": map[string]any{"b": "1"}}}},
		{"tags%5B%5D=x&tags%5B%5D=y", typed, map[string]any{"tags": []any{"x", "y"}}},
		{"blocked=true&blocked=false", typed, map[string]any{"blocked": []any{"true", "false"}}},
		{"m%5Bblocked%5D=true", typed, map[string]any{"m": map[string]any{"blocked": "true"}}}, // only top-level keys are typed
		{"a%5Bb=1&%5Bc%5D=2&d%5Be%5Dx%5D=3", typed, map[string]any{"a[b": "1", "[c]": "2", "d[e]x]": "3"}},
		{"a=1&a%5Bb%5D=2", nil, map[string]any{"a": map[string]any{"b": "2"}}}, // sorted: the object replaces the scalar
	} {
		vals, err := url.ParseQuery(c.form)
		if err != nil {
			t.Fatal(err)
		}
		if got := Body(vals, c.scalar); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Body(%q) = %#v, want %#v", c.form, got, c.want)
		}
	}
}
