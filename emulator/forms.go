package emulator

// POST /users and PATCH /users/{id} also take
// application/x-www-form-urlencoded bodies (the spec lists both media
// types). Auth0 reads them the way Express's extended body parser does:
// bracketed keys build objects (user_metadata[plan]=pro), a repeated key
// an array; booleans arrive as the words true and false (internal/form).

import (
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/auth0-worker/auth0-worker/internal/form"
)

// readUserBody reads a user body, JSON or form: specs type the form's
// scalar values (booleans). Anything but a form is read as JSON.
func readUserBody(r *http.Request, specs map[string]propSpec) (map[string]any, *httpErr) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != form.MediaType {
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
	return form.Body(vals, func(name, v string) any {
		if specs[name].kind == kBool && (v == "true" || v == "false") {
			return v == "true"
		}
		return v // a malformed value is left for validateBody to name
	}), nil
}
