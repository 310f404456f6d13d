package contract

import (
	"io"
	"net/url"

	"github.com/pb33f/libopenapi-validator/content"

	"github.com/auth0-worker/auth0-worker/internal/form"
)

// formDecoder lets the validator check application/x-www-form-urlencoded
// request bodies (POST /users, PATCH /users/{id}), which it otherwise
// passes unchecked. They are read as the emulator reads them
// (internal/form); a value of a boolean, integer or number property is
// converted from its text, others stay strings.
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
		return form.Body(vals, func(name, v string) any {
			if in.Schema == nil || in.Schema.Properties == nil {
				return v
			}
			if p := in.Schema.Properties.GetOrZero(name); p != nil && len(p.Schema().Type) > 0 {
				return content.ParseScalar(v, p.Schema().Type[0])
			}
			return v
		}), nil
	})
}
