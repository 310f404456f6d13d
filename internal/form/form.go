// Package form reads application/x-www-form-urlencoded user bodies the way
// Auth0 does (Express's extended body parser): bracketed keys build objects
// (user_metadata[plan]=pro), a repeated key is an array, and the caller
// types the scalar values of top-level properties (booleans, numbers). The
// emulator answers such bodies with it and internal/contract validates them
// with it, so both read a form alike; it imports nothing of the worker.
package form

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// MediaType is the form media type of POST /users and PATCH /users/{id}.
const MediaType = "application/x-www-form-urlencoded"

// Body turns form values into the body a JSON request would carry. scalar
// types the single value of a top-level key (nil keeps every value a
// string); a malformed key is kept as one name for the validation to name.
func Body(vals url.Values, scalar func(name, value string) any) map[string]any {
	body := map[string]any{}
	keys := slices.Sorted(maps.Keys(vals)) // a deterministic answer to "a=1&a[b]=2"
	for _, key := range keys {
		vs := vals[key]
		name, path := splitKey(key)
		var v any = vs[0]
		switch {
		case len(vs) > 1:
			arr := make([]any, len(vs))
			for i, s := range vs {
				arr[i] = s
			}
			v = arr
		case len(path) == 0 && scalar != nil:
			v = scalar(name, vs[0])
		}
		setPath(body, append([]string{name}, path...), v)
	}
	return body
}

// splitKey splits "a[b][c]" into "a" and [b c]; "a[]" is "a" (an array by
// repetition); a key that is not well bracketed is one name.
func splitKey(key string) (string, []string) {
	i := strings.IndexByte(key, '[')
	if i <= 0 || !strings.HasSuffix(key, "]") {
		return key, nil
	}
	name, rest := key[:i], key[i:]
	var path []string
	for rest != "" {
		j := strings.IndexByte(rest, ']')
		if rest[0] != '[' || j < 0 {
			return key, nil
		}
		if p := rest[1:j]; p != "" {
			path = append(path, p)
		}
		rest = rest[j+1:]
	}
	return name, path
}

// setPath sets m[a][b]...[z] = v for path [a b ... z], making the objects
// on the way (replacing a scalar in the way).
func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
