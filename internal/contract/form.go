package contract

import (
	"io"
	"net/url"
	"strings"

	"github.com/pb33f/libopenapi-validator/content"
)

// formDecoder lets the validator check application/x-www-form-urlencoded
// request bodies (POST /users, PATCH /users/{id}), which it otherwise
// passes unchecked. Bracketed keys build objects (user_metadata[plan]=pro,
// as Auth0's body parser reads them); a value of a boolean, integer or
// number property is converted from its text, others stay strings; a
// repeated key is an array.
func formDecoder() content.Decoder {
	return content.DecoderFunc(func(in *content.DecodeInput) (any, error) {
		if in == nil || in.Body == nil {
			return map[string]any{}, nil
		}
		b, err := io.ReadAll(in.Body)
		if err != nil {
			return nil, err
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for key, vs := range vals {
			parts := strings.FieldsFunc(key, func(r rune) bool { return r == '[' || r == ']' })
			if len(parts) == 0 {
				continue
			}
			var v any = vs[0]
			if len(vs) > 1 {
				arr := make([]any, len(vs))
				for i, s := range vs {
					arr[i] = s
				}
				v = arr
			} else if len(parts) == 1 && in.Schema != nil && in.Schema.Properties != nil {
				if p := in.Schema.Properties.GetOrZero(parts[0]); p != nil && len(p.Schema().Type) > 0 {
					v = content.ParseScalar(vs[0], p.Schema().Type[0])
				}
			}
			setPath(out, parts, v)
		}
		return out, nil
	})
}

// setPath sets m[a][b]...[z] = v for path [a b ... z], making the objects
// on the way (replacing a scalar in the way).
func setPath(m map[string]any, path []string, v any) {
	if len(path) == 1 {
		m[path[0]] = v
		return
	}
	sub, ok := m[path[0]].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[path[0]] = sub
	}
	setPath(sub, path[1:], v)
}
