// Package contract checks HTTP traffic against Auth0's official OpenAPI
// subset (shared/auth0/management-api-v2.users-events.oas.json) with
// pb33f/libopenapi-validator, for tests: the emulator's responses, the
// client's requests, and single payloads against a named schema (the SSE
// data of the Events API). The spec has no error schemas, so error bodies
// are checked against the exact shapes Auth0 answers with (APIErrorShape,
// OAuthErrorShape).
//
// The spec is loaded once per process; Load is cheap after the first call.
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/auth0-worker/auth0-worker/internal/form"
	"github.com/auth0-worker/auth0-worker/internal/sharedfiles"
)

// ErrMismatch is wrapped by every validation failure.
var ErrMismatch = errors.New("contract: does not match the Auth0 OpenAPI spec")

// Validator validates requests, responses and payloads. It is safe for
// concurrent use (calls into the library are serialized).
type Validator struct {
	mu      sync.Mutex
	v       validator.Validator
	model   *v3.Document
	schemas schema_validation.SchemaValidator
	cache   map[string]*base.Schema
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// Load returns the process-wide validator, loading the spec on first use.
// The test fails (never skips) when the spec is missing or invalid.
func Load(t testing.TB) *Validator {
	t.Helper()
	path := sharedfiles.OpenAPISpec(t)
	loadOnce.Do(func() { loaded, loadErr = loadFile(path) })
	if loadErr != nil {
		t.Fatalf("contract: %v", loadErr)
	}
	return loaded
}

func loadFile(path string) (*Validator, error) {
	spec, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build spec model: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithRegexEngine(regexEngine), config.WithBodyDecoder(form.MediaType, formDecoder()))
	if len(errs) > 0 {
		return nil, fmt.Errorf("build validator: %v", errors.Join(errs...))
	}
	return &Validator{v: v, model: &model.Model, schemas: schema_validation.NewSchemaValidator(config.WithRegexEngine(regexEngine)), cache: map[string]*base.Schema{}}, nil
}

func formatErrs(what string, errs []*liberrors.ValidationError) error {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Message)
		if e.Reason != "" {
			b.WriteString(": ")
			b.WriteString(e.Reason)
		}
		for _, f := range e.SchemaValidationErrors {
			b.WriteString(" [")
			if f.FieldPath != "" {
				b.WriteString(f.FieldPath)
				b.WriteString(": ")
			}
			b.WriteString(f.Reason)
			b.WriteString("]")
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrMismatch, what, b.String())
}

// ValidateRequest checks r (path, query, headers, body) against the spec.
// The body is read and put back. The spec's security scheme needs a
// "Bearer" Authorization header.
func (v *Validator) ValidateRequest(r *http.Request) error {
	body, err := peekBody(&r.Body)
	if err != nil {
		return err
	}
	clone := r.Clone(r.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	v.mu.Lock()
	ok, errs := v.v.ValidateHttpRequestSync(clone)
	v.mu.Unlock()
	if !ok {
		return formatErrs("request "+r.Method+" "+r.URL.Path, errs)
	}
	return nil
}

// ValidateResponse checks resp (status and body) for req against the spec.
// The body is read and put back.
func (v *Validator) ValidateResponse(req *http.Request, resp *http.Response) error {
	body, err := peekBody(&resp.Body)
	if err != nil {
		return err
	}
	clone := *resp
	clone.Body = io.NopCloser(bytes.NewReader(body))
	v.mu.Lock()
	ok, errs := v.v.ValidateHttpResponse(req, &clone)
	v.mu.Unlock()
	if !ok {
		return formatErrs(fmt.Sprintf("response %d to %s %s", resp.StatusCode, req.Method, req.URL.Path), errs)
	}
	return nil
}

// ValidateSchema checks one JSON payload against a component schema of the
// spec, e.g. "EventStreamSubscribeEventsResponseContent" for an SSE data
// line of the Events API.
func (v *Validator) ValidateSchema(name string, payload []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.cache[name]
	if !ok {
		if v.model.Components == nil || v.model.Components.Schemas == nil {
			return fmt.Errorf("contract: spec has no components")
		}
		proxy, found := v.model.Components.Schemas.Get(name)
		if !found || proxy == nil {
			return fmt.Errorf("contract: spec has no schema %q", name)
		}
		s = proxy.Schema()
		if s == nil {
			return fmt.Errorf("contract: schema %q does not build: %v", name, proxy.GetBuildError())
		}
		v.cache[name] = s
	}
	ok, errs := v.schemas.ValidateSchemaBytes(s, payload)
	if !ok {
		return formatErrs("payload against "+name, errs)
	}
	return nil
}

func peekBody(rc *io.ReadCloser) ([]byte, error) {
	if *rc == nil || *rc == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(*rc)
	_ = (*rc).Close()
	if err != nil {
		return nil, fmt.Errorf("contract: read body: %w", err)
	}
	*rc = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// APIErrorShape checks a Management API error body against Auth0's shape:
// exactly statusCode (= status), error (the status text), message, and
// optionally errorCode; no other keys.
func APIErrorShape(status int, body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%w: error body is not a JSON object: %q", ErrMismatch, body)
	}
	for k := range m {
		switch k {
		case "statusCode", "error", "message", "errorCode":
		default:
			return fmt.Errorf("%w: error body has unexpected key %q: %s", ErrMismatch, k, body)
		}
	}
	if sc, ok := m["statusCode"].(float64); !ok || int(sc) != status {
		return fmt.Errorf("%w: statusCode %v for HTTP %d: %s", ErrMismatch, m["statusCode"], status, body)
	}
	if e, ok := m["error"].(string); !ok || e != http.StatusText(status) {
		return fmt.Errorf("%w: error %v, want %q: %s", ErrMismatch, m["error"], http.StatusText(status), body)
	}
	if msg, ok := m["message"].(string); !ok || msg == "" {
		return fmt.Errorf("%w: message missing or empty: %s", ErrMismatch, body)
	}
	if c, present := m["errorCode"]; present {
		if s, ok := c.(string); !ok || s == "" {
			return fmt.Errorf("%w: errorCode not a non-empty string: %s", ErrMismatch, body)
		}
	}
	return nil
}

// OAuthErrorShape checks an /oauth/token error body: exactly error and
// error_description, both strings.
func OAuthErrorShape(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%w: token error body is not a JSON object: %q", ErrMismatch, body)
	}
	if len(m) != 2 {
		return fmt.Errorf("%w: token error body must hold exactly error and error_description: %s", ErrMismatch, body)
	}
	for _, k := range []string{"error", "error_description"} {
		if s, ok := m[k].(string); !ok || s == "" {
			return fmt.Errorf("%w: token error body %s missing or not a string: %s", ErrMismatch, k, body)
		}
	}
	return nil
}

// TokenResponseShape checks a successful /oauth/token body.
func TokenResponseShape(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%w: token body is not a JSON object: %q", ErrMismatch, body)
	}
	if s, ok := m["access_token"].(string); !ok || s == "" {
		return fmt.Errorf("%w: access_token missing", ErrMismatch)
	}
	if _, ok := m["expires_in"].(float64); !ok {
		return fmt.Errorf("%w: expires_in missing or not a number", ErrMismatch)
	}
	if m["token_type"] != "Bearer" {
		return fmt.Errorf("%w: token_type %v, want Bearer", ErrMismatch, m["token_type"])
	}
	return nil
}
