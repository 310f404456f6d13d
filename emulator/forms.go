package emulator

// POST /users and PATCH /users/{id} also take
// application/x-www-form-urlencoded bodies (the spec lists both media
// types). Auth0 reads them the way Express's extended body parser does:
// bracketed keys build objects (user_metadata[plan]=pro), a repeated key
// an array; booleans arrive as the words true and false.

import (
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

const formMediaType = "application/x-www-form-urlencoded"

// readUserBody reads a user body, JSON or form: specs type the form's
// scalar values (booleans). Anything but a form is read as JSON.
func readUserBody(r *http.Request, specs map[string]propSpec) (map[string]any, *httpErr) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != formMediaType {
		return readJSONObject(r)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &httpErr{http.StatusBadRequest, "invalid_body", "Invalid request payload: " + err.Error()}
	}
	if len(b) > maxBody {
		return nil, &httpErr{http.StatusRequestEntityTooLarge, "", "Payload content length greater than maximum allowed: 1048576"}
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, &httpErr{http.StatusBadRequest, "invalid_body", "Invalid request payload: not a valid form: " + err.Error()}
	}
	return formToBody(vals, specs), nil
}

// formToBody turns form values into the body a JSON request would carry.
// Values stay strings except booleans of a boolean property; a malformed
// key or value is left for validateBody to name.
func formToBody(vals url.Values, specs map[string]propSpec) map[string]any {
	body := map[string]any{}
	keys := slices.Sorted(maps.Keys(vals)) // a deterministic answer to "a=1&a[b]=2"
	for _, key := range keys {
		vs := vals[key]
		var v any = vs[0]
		if len(vs) > 1 {
			arr := make([]any, len(vs))
			for i, s := range vs {
				arr[i] = s
			}
			v = arr
		}
		name, path := splitFormKey(key)
		if len(path) == 0 {
			if specs[name].kind == kBool && (v == "true" || v == "false") {
				v = v == "true"
			}
			body[name] = v
			continue
		}
		obj, ok := body[name].(map[string]any)
		if !ok {
			obj = map[string]any{}
			body[name] = obj
		}
		for _, p := range path[:len(path)-1] {
			next, ok := obj[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				obj[p] = next
			}
			obj = next
		}
		obj[path[len(path)-1]] = v
	}
	return body
}

// splitFormKey splits "a[b][c]" into "a" and [b c]; "a[]" is "a" (an
// array by repetition); a key that is not well bracketed is one name.
func splitFormKey(key string) (string, []string) {
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
