package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// checkDecodeErr asserts the decoder contract: nil, or a 400 with a
// one-line message.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != CodeInvalidCommand || e.Message == "" || strings.ContainsAny(e.Message, "\r\n") {
		t.Fatalf("decoder error breaks the contract: %#v", err)
	}
	if !json.Valid(e.Body()) {
		t.Fatalf("error body is not JSON: %s", e.Body())
	}
}

func FuzzDecodeCreate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCreate(data)
		checkDecodeErr(t, err)
		if err == nil && (c.connection == "" || !json.Valid(c.body)) {
			t.Fatalf("accepted a create without connection or with invalid JSON: %q", data)
		}
	})
}

func FuzzDecodeUpdate(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeUpdate(data)
		checkDecodeErr(t, err)
		if err == nil && (c.userID == "" || !json.Valid(c.patch)) {
			t.Fatalf("accepted an update without user_id or with an invalid patch: %q", data)
		}
	})
}

func FuzzDecodeUserID(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := decodeUserID(data)
		checkDecodeErr(t, err)
		if err == nil && (id == "" || id == "." || id == ".." || hasControl(id) || strings.ContainsRune(id, utf8.RuneError)) {
			t.Fatalf("accepted user_id %q: %q", id, data)
		}
	})
}

func FuzzDecodeSearch(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeSearch(data)
		checkDecodeErr(t, err)
		if err == nil && (c.limit < 1 || c.limit > 1000) {
			t.Fatalf("accepted limit %d: %q", c.limit, data)
		}
	})
}

func FuzzDecodeSearchByEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeByEmail(data)
		checkDecodeErr(t, err)
		if err == nil && !strings.Contains(e, "@") {
			t.Fatalf("accepted email %q", e)
		}
	})
}

func FuzzDecodeAPICall(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeAPICall(data)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		for k, v := range r.Headers {
			if k == "Authorization" || k == "Host" || strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("accepted header %q=%q", k, v)
			}
		}
		// Dots inside a segment ("jane.doe", "x..") are fine; dot segments are not.
		if strings.HasPrefix(r.Path, "//") || strings.ContainsAny(r.Path, "\\\x00\r\n") {
			t.Fatalf("accepted path %q", r.Path)
		}
		// Sent as checked: every segment decodes once to a non-dot-like
		// value without ';', and re-encodes to itself.
		pathPart, _, _ := strings.Cut(r.Path, "?")
		for _, seg := range strings.Split(pathPart[1:], "/") {
			dec, err := url.PathUnescape(seg)
			if err != nil || url.PathEscape(dec) != seg || strings.ContainsAny(dec, ";\\") || (dec != "" && badSegment(dec, false) != "") {
				t.Fatalf("accepted segment %q of %q", seg, r.Path)
			}
		}
	})
}

// FuzzRedactBody: redaction fails closed. The result is the input only
// when the input names no secret; otherwise it is JSON in which every
// secret member's value is "[redacted]", or "[redacted]" whole.
func FuzzRedactBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		out := redactBody(data, dlqSecrets)
		if string(out) == string(data) && !mentions(data, dlqSecrets) {
			return
		}
		if string(out) == redacted {
			return
		}
		dec := json.NewDecoder(strings.NewReader(string(out)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("redacted %q to invalid JSON %q", data, out)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, e := range x {
					if isSecret(k, dlqSecrets) && e != "[redacted]" {
						t.Fatalf("%q kept %s=%v", data, k, e)
					}
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(v)
	})
}

// FuzzExecute drives every command through the executor with a client that
// answers every call: no input may panic (a panic would surface as 500).
func FuzzExecute(f *testing.F) {
	x := &executor{client: okClient{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), cmds: builtinSet(f)}
	names := x.cmds.names(TransportService)
	f.Fuzz(func(t *testing.T, cmd uint8, data []byte) {
		command := names[int(cmd)%len(names)]
		reply, e := x.execute(context.Background(), command, data, attempt{redelivery: cmd&0x80 != 0})
		if e != nil {
			if e.Status == 500 {
				t.Fatalf("%s panicked on %q", command, data)
			}
			return
		}
		if !json.Valid(reply) {
			t.Fatalf("%s replied invalid JSON %q", command, reply)
		}
	})
}

// okClient answers every call successfully with a small user.
type okClient struct{}

var okUser = auth0.User{UserID: "auth0|1", Email: "a@example.com", CreatedAt: "2026-01-01T00:00:00.000Z", Raw: json.RawMessage(`{"user_id":"auth0|1","email":"a@example.com"}`)}

func (okClient) GetUser(context.Context, string) (*auth0.User, error) { u := okUser; return &u, nil }
func (okClient) CreateUser(context.Context, json.RawMessage) (*auth0.User, error) {
	u := okUser
	return &u, nil
}
func (okClient) UpdateUser(context.Context, string, json.RawMessage) (*auth0.User, error) {
	u := okUser
	return &u, nil
}
func (okClient) DeleteUser(context.Context, string) error { return nil }
func (okClient) UsersByEmail(context.Context, string) ([]auth0.User, error) {
	return []auth0.User{okUser}, nil
}
func (okClient) SearchUsers(context.Context, auth0.SearchParams) (*auth0.UsersPage, error) {
	return &auth0.UsersPage{Users: []auth0.User{okUser}, Total: 1}, nil
}
func (okClient) SearchAll(auth0.SearchParams) *auth0.UserIterator { return nil }
func (okClient) Raw(context.Context, auth0.RawRequest) (*auth0.RawResponse, error) {
	return &auth0.RawResponse{Status: 200, Body: json.RawMessage(`{}`)}, nil
}
