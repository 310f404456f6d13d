package schemacheck

import (
	"bytes"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/auth0-worker/auth0-worker/schemas"
)

func TestEveryCommandAndEventHasSchemas(t *testing.T) {
	names := schemas.Names()
	want := []string{schemas.Error}
	for _, c := range schemas.Commands {
		want = append(want, schemas.Request(c), schemas.Reply(c))
	}
	for _, e := range schemas.EventTypes {
		want = append(want, schemas.Event(e))
	}
	for _, n := range want {
		if !contains(names, n) {
			t.Errorf("no schema %s.json", n)
		}
	}
	if _, err := NewValidator(); err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// The bundles (what the micro metadata shows) must compile on their own,
// with no other resource, and judge documents as the folder does.
func TestBundlesAreSelfContained(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range schemas.Names() {
		b, err := schemas.Bundle(n)
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		c.UseLoader(refuseLoader{})
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("bundle.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("bundle.json")
		if err != nil {
			t.Fatalf("bundle %s does not compile alone: %v", n, err)
		}
		for _, sample := range samples {
			inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(sample.body))
			if (s.Validate(inst) == nil) != (v.Validate(n, []byte(sample.body)) == nil) {
				t.Errorf("bundle %s and the folder disagree on %s", n, sample.body)
			}
		}
	}
}

type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, &jsonschema.LoadURLError{URL: url, Err: errNoFetch}
}

var errNoFetch = stringError("bundles must not fetch anything")

type stringError string

func (e stringError) Error() string { return string(e) }

// samples are documents each schema must accept (name) and others that
// schema must refuse (bad); a sample is also run through every bundle.
var samples = []struct {
	name, body string
	ok         bool
}{
	{"users.create.request", `{"connection":"Username-Password-Authentication","email":"a@example.com","password":"x"}`, true},
	{"users.create.request", `{"email":"a@example.com"}`, false},
	{"users.create.request", `{"connection":"c","emial":"a@example.com"}`, false},
	{"users.create.request", `{"connection":"c","phone_number":"0041"}`, false},
	{"users.update.request", `{"user_id":"auth0|1","name":null}`, true},
	{"users.update.request", `{"user_id":"auth0|1"}`, false},
	{"users.get.request", `{"user_id":".."}`, false},
	{"users.get.request", "{\"user_id\":\"a\\u0001\"}", false},
	{"users.search.request", `{"query":"email:*","limit":1000}`, true},
	{"users.search.request", `{"limit":1001}`, false},
	{"users.search.request", `{"limit":"5"}`, false},
	{"api.call.request", `{"method":"GET","path":"/users","query":{"q":["a","b"]},"headers":{"x-correlation-id":"1"}}`, true},
	{"api.call.request", `{"method":"get","path":"/users"}`, false},
	{"api.call.request", `{"method":"GET","path":"/users","headers":{"Authorization":"Bearer x"}}`, false},
	{"users.get.reply", `{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","email":"a@example.com"}`, true},
	{"users.create.reply", `{"user_id":"auth0|1","truncated":true}`, true},
	{"users.get.reply", `{"user_id":"auth0|1","truncated":true}`, false},
	{"users.delete.reply", `{"user_id":"auth0|1","deleted":true}`, true},
	{"users.search.reply", `{"users":[{"email":"a@example.com"}],"total":1}`, true},
	{"api.call.reply", `{"status":404,"headers":{"content-type":"application/json"},"body":{"statusCode":404}}`, true},
	{"api.call.reply", `{"status":201,"truncated":true}`, true},
	{"error", `{"error":{"status":404,"code":"not_found","message":"user not found","auth0":{"statusCode":404}}}`, true},
	{"error", `{"error":{"status":200,"code":"x","message":"y"}}`, false},
	{"event.user.created", `{"specversion":"1.0","id":"auth0|1@2026-01-01T00:00:00.000Z","source":"https://t.eu.auth0.com/","type":"com.auth0.user.created","subject":"auth0|1","time":"2026-01-01T00:00:00.000Z","datacontenttype":"application/json","data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","name":"A"}}`, true},
	{"event.user.created", `{"specversion":"1.0","id":"auth0|1@2026-01-01T00:00:00.000Z","source":"https://t.eu.auth0.com/","type":"com.auth0.user.created","subject":"auth0|1","time":"2026-01-01T00:00:00.000Z","datacontenttype":"application/json","auth0truncated":true,"data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","email":"a@example.com"}}`, true},
	{"event.user.created", `{"specversion":"1.0","id":"auth0|1@2026-01-01T00:00:00.000Z","source":"https://t.eu.auth0.com/","type":"com.auth0.user.created","subject":"auth0|1","time":"2026-01-01T00:00:00.000Z","datacontenttype":"application/json","auth0truncated":true,"data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","name":"A"}}`, false},
	{"event.user.updated", `{"specversion":"1.0","id":"updated@auth0|1@2026-01-02T00:00:00.000Z","source":"http://127.0.0.1:8081/","type":"com.auth0.user.updated","subject":"auth0|1","time":"2026-01-02T00:00:00.000Z","datacontenttype":"application/json","data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-02T00:00:00.000Z"}}`, true},
	{"event.user.updated", `{"specversion":"1.0","id":"auth0|1@2026-01-02T00:00:00.000Z","source":"http://127.0.0.1:8081/","type":"com.auth0.user.updated","subject":"auth0|1","time":"2026-01-02T00:00:00.000Z","datacontenttype":"application/json","data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-02T00:00:00.000Z"}}`, false},
	{"event.user.deleted", `{"specversion":"1.0","id":"deleted@auth0|1@2026-01-03T00:00:00.000Z","source":"http://127.0.0.1:8081/","type":"com.auth0.user.deleted","subject":"auth0|1","time":"2026-01-03T00:00:00.000Z","datacontenttype":"application/json","data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-02T00:00:00.000Z","deleted_at":"2026-01-03T00:00:00.000Z"}}`, true},
	{"event.user.deleted", `{"specversion":"1.0","id":"deleted@auth0|1@2026-01-03T00:00:00.000Z","source":"http://127.0.0.1:8081/","type":"com.auth0.user.created","subject":"auth0|1","time":"2026-01-03T00:00:00.000Z","datacontenttype":"application/json","data":{"user_id":"auth0|1","created_at":"2026-01-01T00:00:00.000Z","deleted_at":"2026-01-03T00:00:00.000Z"}}`, false},
}

func TestSamples(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		err := v.Validate(s.name, []byte(s.body))
		if (err == nil) != s.ok {
			t.Errorf("%s: accepted=%v, want %v: %s (%v)", s.name, err == nil, s.ok, s.body, err)
		}
	}
}

func TestValidateReplyChecksTheStatusHeader(t *testing.T) {
	v, _ := NewValidator()
	body := []byte(`{"error":{"status":404,"code":"not_found","message":"no"}}`)
	if err := v.ValidateReply("users.get", 404, body); err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateReply("users.get", 400, body); err == nil {
		t.Fatal("a 400 header with a 404 body passed")
	}
}

type recordTB struct{ errors int }

func (r *recordTB) Helper()               {}
func (r *recordTB) Errorf(string, ...any) { r.errors++ }

func TestChecksReport(t *testing.T) {
	var r recordTB
	Check(&r, "users.delete.reply", []byte(`{"user_id":"a","deleted":true}`))
	CheckReply(&r, "users.get", 404, []byte(`{"error":{"status":404,"code":"not_found","message":"no"}}`))
	CheckOutcome(&r, 200, []byte(`{"user_id":"a","deleted":true}`))
	if r.errors != 0 {
		t.Fatalf("%d errors for valid documents", r.errors)
	}
	Check(&r, "users.delete.reply", []byte(`{"user_id":"a"}`))
	CheckReply(&r, "users.get", 200, []byte(`{"error":{"status":404,"code":"not_found","message":"no"}}`))
	CheckEvent(&r, []byte(`{"type":"com.auth0.user.renamed"}`))
	CheckOutcome(&r, 200, []byte(`{"users":[]}`))
	if r.errors != 4 {
		t.Fatalf("%d errors for 4 invalid documents", r.errors)
	}
}
