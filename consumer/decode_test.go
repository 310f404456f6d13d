package consumer

import (
	"errors"
	"strings"
	"testing"
)

func wantInvalid(t *testing.T, err error, substr string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error 400, got %v", err)
	}
	if e.Status != 400 || e.Code != CodeInvalidCommand {
		t.Fatalf("want 400 invalid_command, got %d %s", e.Status, e.Code)
	}
	if !strings.Contains(e.Message, substr) {
		t.Fatalf("message %q does not contain %q", e.Message, substr)
	}
}

func TestDecodeCreate(t *testing.T) {
	ok := []string{
		`{"connection":"Username-Password-Authentication","email":"a@example.com","password":"Secret-123"}`,
		`{"connection":"c","phone_number":"+14155550100","user_metadata":{"a":1},"blocked":false,"user_id":"abc"}`,
		` {"connection":"c"} `,
	}
	for _, b := range ok {
		if _, err := decodeCreate([]byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	bad := []struct{ body, msg string }{
		{`{"connection":"c",`, "invalid JSON"},
		{``, "empty"},
		{`[1]`, "must be a JSON object, got array"},
		{`"x"`, "must be a JSON object, got string"},
		{`{"connection":"c","colour":"red"}`, `unknown field "colour"`},
		{`{"email":"a@example.com"}`, `field "connection" is required`},
		{`{"connection":""}`, `field "connection" must not be empty`},
		{`{"connection":5}`, `field "connection" must be a string, got number`},
		{`{"connection":"c","email":"not-an-email"}`, `field "email" is not a valid email address`},
		{`{"connection":"c","email":"A B <a@b.c>"}`, `field "email" is not a valid email address`},
		{`{"connection":"c","phone_number":"0123"}`, `field "phone_number" must be in E.164 form`},
		{`{"connection":"c","phone_number":"+1234567890123456"}`, `phone_number`},
		{`{"connection":"c","blocked":"yes"}`, `field "blocked" must be a boolean, got string`},
		{`{"connection":"c","user_metadata":[1]}`, `field "user_metadata" must be an object, got array`},
		{`{"connection":"c","email":null}`, `field "email" must be a string, got null`},
		{`{"connection":"c"} {}`, "invalid JSON"},
		{`{"connection":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "the limit is 1000000"},
	}
	for _, tc := range bad {
		_, err := decodeCreate([]byte(tc.body))
		wantInvalid(t, err, tc.msg)
	}
}

func TestDecodeUpdate(t *testing.T) {
	c, err := decodeUpdate([]byte(`{"user_id":"auth0|1","name":"N","user_metadata":{"k":null},"nickname":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.userID != "auth0|1" || strings.Contains(string(c.patch), "user_id") || !strings.Contains(string(c.patch), `"nickname":null`) {
		t.Fatalf("got %+v %s", c, c.patch)
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"name":"x"}`, `field "user_id" is required`},
		{`{"user_id":null,"name":"x"}`, `field "user_id" must be a string, got null`},
		{`{"user_id":"a"}`, `no field to update`},
		{`{"user_id":"a","created_at":"2020"}`, `unknown field "created_at"`},
		{`{"user_id":"a","email":"bad"}`, `"email" is not a valid email`},
	} {
		_, err := decodeUpdate([]byte(tc.body))
		wantInvalid(t, err, tc.msg)
	}
}

func TestDecodeSearch(t *testing.T) {
	c, err := decodeSearch([]byte(`{}`))
	if err != nil || c.limit != 50 {
		t.Fatalf("default limit: %+v %v", c, err)
	}
	c, err = decodeSearch([]byte(`{"query":"email:*","limit":1000,"sort":"created_at:1","fields":"user_id"}`))
	if err != nil || c.limit != 1000 || c.query != "email:*" {
		t.Fatalf("%+v %v", c, err)
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"limit":5000}`, `field "limit" must be between 1 and 1000, got 5000`},
		{`{"limit":0}`, `field "limit" must be between 1 and 1000, got 0`},
		{`{"limit":2.5}`, `field "limit" must be an integer, got number`},
		{`{"limit":"10"}`, `field "limit" must be an integer, got string`},
		{`{"q":"x"}`, `unknown field "q"`},
	} {
		_, err := decodeSearch([]byte(tc.body))
		wantInvalid(t, err, tc.msg)
	}
}

func TestDecodeUserIDAndEmail(t *testing.T) {
	if id, err := decodeUserID([]byte(`{"user_id":"auth0|x"}`)); err != nil || id != "auth0|x" {
		t.Fatal(id, err)
	}
	_, err := decodeUserID([]byte(`{}`))
	wantInvalid(t, err, `field "user_id" is required`)
	_, err = decodeUserID([]byte(`{"user_id":1}`))
	wantInvalid(t, err, `field "user_id" must be a string, got number`)
	if e, err := decodeByEmail([]byte(`{"email":"x@y.z"}`)); err != nil || e != "x@y.z" {
		t.Fatal(e, err)
	}
	_, err = decodeByEmail([]byte(`{"email":"xyz"}`))
	wantInvalid(t, err, `field "email" is not a valid email address`)
}

func TestDecodeAPICallHeadersAndMethod(t *testing.T) {
	for _, tc := range []struct{ body, msg string }{
		{`{"method":"get","path":"/users"}`, `field "method" must be one of`},
		{`{"path":"/users"}`, `field "method" is required`},
		{`{"method":"GET","path":"/users","headers":{"authorization":"Bearer x"}}`, `may not set Authorization`},
		{`{"method":"GET","path":"/users","headers":{"Host":"evil"}}`, `may not set Host`},
		{`{"method":"GET","path":"/users","headers":{"X-Other":"1"}}`, `header not allowed`},
		{`{"method":"GET","path":"/users","headers":{"Accept":1}}`, `must be a string, got number`},
		{`{"method":"GET","path":"/users","query":{"q":1}}`, `"query.q" must be a string or an array of strings`},
	} {
		_, err := decodeAPICall([]byte(tc.body))
		wantInvalid(t, err, tc.msg)
	}
}

func TestValidID(t *testing.T) {
	for _, s := range []string{"a", "A-b_9", strings.Repeat("x", 128)} {
		if !ValidID(s) {
			t.Errorf("%q should be valid", s)
		}
	}
	for _, s := range []string{"", "a b", "a.b", strings.Repeat("x", 129), "é"} {
		if ValidID(s) {
			t.Errorf("%q should be invalid", s)
		}
	}
}
