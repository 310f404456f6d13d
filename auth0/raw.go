package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// callerHeaders are the request headers an api.call may set (canonical form).
var callerHeaders = map[string]bool{"Accept": true, "Content-Type": true, "X-Correlation-Id": true}

// replyHeaders are Auth0's response headers an api.call reply carries.
var replyHeaders = []string{"Content-Type", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Retry-After", "Location", "Link", "X-Correlation-Id"}

// Raw executes an api.call under the rules of README "Security", in this order:
//   - method: GET, POST, PUT, PATCH or DELETE, upper case;
//   - r.Path passes CheckAPIPath (ErrInvalidPath); a "?query" part is merged
//     into r.Query;
//   - caller headers: Authorization or Host → ErrForbiddenHeader; only
//     Accept, Content-Type and X-Correlation-ID are passed on, others are
//     dropped;
//   - the allowlist (Config.APICallAllow) must match the method and the
//     cleaned, decoded path (ErrNotAllowed; an empty list refuses all).
//
// Only then is anything sent, and only to the configured base URL. The
// answer is returned whatever Auth0's status (after the usual retries for
// 429, 5xx and network errors; a POST is not retried unless certainly not
// processed). A JSON body has every "client_secret" field replaced by
// "[redacted]"; any other body is returned as a JSON string.
func (c *Client) Raw(ctx context.Context, r RawRequest) (*RawResponse, error) {
	if !validMethod(r.Method) {
		return nil, fmt.Errorf("auth0: api.call: %w: method %q must be one of GET POST PUT PATCH DELETE (upper case)", ErrInvalidRequest, r.Method)
	}
	if err := CheckAPIPath(r.Path); err != nil {
		return nil, fmt.Errorf("auth0: api.call: path: %w", err)
	}
	pathPart, rawQuery, _ := strings.Cut(r.Path, "?")
	q, err := rawCallQuery(rawQuery, r.Query)
	if err != nil {
		return nil, err
	}
	h, err := rawCallHeaders(r.Headers)
	if err != nil {
		return nil, err
	}
	if len(c.allow) == 0 {
		return nil, fmt.Errorf("auth0: api.call: %w: AUTH0_API_CALL_ALLOW is empty", ErrNotAllowed)
	}
	clean := cleanAPIPath(pathPart)
	if !c.allowed(r.Method, clean) {
		return nil, fmt.Errorf("auth0: api.call: %w: %s %s matches no AUTH0_API_CALL_ALLOW rule", ErrNotAllowed, r.Method, clean)
	}
	var body []byte
	if len(r.Body) > 0 && !bytes.Equal(bytes.TrimSpace(r.Body), []byte("null")) {
		if !json.Valid(r.Body) {
			return nil, fmt.Errorf("auth0: api.call: %w: body is not valid JSON", ErrInvalidRequest)
		}
		body = r.Body
	}
	res, err := c.do(ctx, &call{op: "api.call", method: r.Method, path: pathPart, query: q, body: body, headers: h, anyStatus: true})
	if err != nil {
		return nil, err
	}
	out := &RawResponse{Status: res.status, Headers: map[string]string{}}
	for _, k := range replyHeaders {
		if v := res.header.Get(k); v != "" {
			out.Headers[k] = v
		}
	}
	out.Body = rawBody(res.header.Get("Content-Type"), res.body)
	return out, nil
}

// rawCallQuery merges the path's query (checked by CheckAPIPath) with the
// caller's Query, refusing control characters in the latter.
func rawCallQuery(rawQuery string, extra url.Values) (url.Values, error) {
	q := url.Values{}
	if rawQuery != "" {
		pq, _ := url.ParseQuery(rawQuery) // checked by CheckAPIPath
		for k, vs := range pq {
			q[k] = append(q[k], vs...)
		}
	}
	for k, vs := range extra {
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\x00\r\n") {
				return nil, fmt.Errorf("auth0: api.call: %w: query %q contains control characters", ErrInvalidPath, k)
			}
			q.Add(k, v)
		}
	}
	return q, nil
}

// rawCallHeaders keeps the caller's headers that callerHeaders allows;
// Authorization, Host and control characters are refused.
func rawCallHeaders(in map[string]string) (http.Header, error) {
	h := http.Header{}
	for k, v := range in {
		ck := http.CanonicalHeaderKey(strings.TrimSpace(k))
		if ck == "Authorization" || ck == "Host" {
			return nil, fmt.Errorf("auth0: api.call: %w: %s may not be set by the caller", ErrForbiddenHeader, ck)
		}
		if strings.ContainsAny(v, "\x00\r\n") {
			return nil, fmt.Errorf("auth0: api.call: %w: header %s contains control characters", ErrForbiddenHeader, ck)
		}
		if callerHeaders[ck] {
			h.Set(ck, v)
		}
	}
	return h, nil
}

// rawBody returns JSON with client_secret redacted, or the text as a JSON
// string, or null for an empty body. Redaction fails closed: a body that is
// not JSON (or cannot be re-encoded) and mentions client_secret in any
// letter case or escape is replaced whole by "[redacted]".
func rawBody(contentType string, b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		if red, err := redactJSON(b); err == nil {
			return red
		}
	}
	if mentionsSecret(b) {
		return json.RawMessage(`"[redacted]"`)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// mentionsSecret reports whether text might spell client_secret: plainly,
// in any letter case, or with escapes (\u, %xx) that could hide it.
func mentionsSecret(b []byte) bool {
	lower := bytes.ToLower(b)
	return bytes.Contains(lower, []byte("client_secret")) || bytes.Contains(lower, []byte("client%5fsecret")) ||
		(bytes.Contains(lower, []byte("client")) && bytes.Contains(lower, []byte(`\u`)))
}

// redactJSON re-encodes b token by token (keeping key order and number
// text) with the value of every "client_secret" key, at any depth and
// however it is escaped, replaced by "[redacted]".
func redactJSON(b []byte) (json.RawMessage, error) {
	if !bytes.Contains(bytes.ToLower(b), []byte("client")) && bytes.IndexByte(b, '\\') < 0 {
		return b, nil // fast path: no key can spell client_secret, escaped or not
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := redactValue(dec, &out); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func redactValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			first := true
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if !first {
					out.WriteByte(',')
				}
				first = false
				kb, _ := json.Marshal(k)
				out.Write(kb)
				out.WriteByte(':')
				if strings.EqualFold(k, "client_secret") {
					if err := skipValue(dec); err != nil {
						return err
					}
					out.WriteString(`"[redacted]"`)
					continue
				}
				if err := redactValue(dec, out); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // '}'
				return err
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			first := true
			for dec.More() {
				if !first {
					out.WriteByte(',')
				}
				first = false
				if err := redactValue(dec, out); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return err
			}
			out.WriteByte(']')
		}
	default:
		vb, err := json.Marshal(t)
		if err != nil {
			return err
		}
		out.Write(vb)
	}
	return nil
}

func skipValue(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}
