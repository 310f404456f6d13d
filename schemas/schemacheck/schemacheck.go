// Package schemacheck validates JSON documents against the worker's schemas
// (package schemas). It is separate from schemas so the worker, which only
// publishes the schema files, links no validator.
package schemacheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/auth0-worker/auth0-worker/schemas"
)

// Validator checks JSON documents against the compiled schemas. It is safe
// for concurrent use.
type Validator struct {
	compiled map[string]*jsonschema.Schema
}

// NewValidator compiles every schema of the folder, with format assertions
// on (email, uri).
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, n := range schemas.Names() {
		b, _ := schemas.Raw(n)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %v", n, err)
		}
		if err := c.AddResource(schemas.BaseURI+n+".json", doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %v", n, err)
		}
	}
	v := &Validator{compiled: map[string]*jsonschema.Schema{}}
	for _, n := range schemas.Names() {
		s, err := c.Compile(schemas.BaseURI + n + ".json")
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %v", n, err)
		}
		v.compiled[n] = s
	}
	return v, nil
}

// Validate checks body against the named schema. The error says which
// schema and where the document breaks it.
func (v *Validator) Validate(name string, body []byte) error {
	s, ok := v.compiled[name]
	if !ok {
		return fmt.Errorf("schemas: no schema %q", name)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("schemas: %s: not JSON: %v", name, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("schemas: %s: %v", name, err)
	}
	return nil
}

// ValidateReply checks a command's reply: the command's reply schema when
// status is 200 (no Nats-Service-Error-Code), the error schema otherwise,
// whose status must equal the header's.
func (v *Validator) ValidateReply(command string, status int, body []byte) error {
	if status == 200 {
		return v.Validate(schemas.Reply(command), body)
	}
	if err := v.Validate(schemas.Error, body); err != nil {
		return err
	}
	var e struct {
		Error struct{ Status int } `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Status != status {
		return fmt.Errorf("schemas: error body's status %d is not the header's %d", e.Error.Status, status)
	}
	return nil
}

var (
	defaultOnce sync.Once
	defaultV    *Validator
	defaultErr  error
)

// Default is a Validator compiled once per process.
func Default() (*Validator, error) {
	defaultOnce.Do(func() { defaultV, defaultErr = NewValidator() })
	return defaultV, defaultErr
}

// TB is the part of testing.TB the checks below use (this package does not
// import testing: the worker links it).
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Check reports on t when body breaks the named schema.
func Check(t TB, name string, body []byte) {
	t.Helper()
	report(t, body, func(v *Validator) error { return v.Validate(name, body) })
}

// CheckReply reports on t when a command's reply breaks its schema (see
// ValidateReply).
func CheckReply(t TB, command string, status int, body []byte) {
	t.Helper()
	report(t, body, func(v *Validator) error { return v.ValidateReply(command, status, body) })
}

// ValidateEvent checks an event against the schema of its CloudEvents type
// (an error when it has no type this worker publishes).
func (v *Validator) ValidateEvent(body []byte) error {
	var ce struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &ce)
	return v.Validate(schemas.Event(strings.TrimPrefix(ce.Type, "com.auth0.")), body)
}

// CheckEvent reports on t when a stored event breaks the schema of its
// CloudEvents type (see ValidateEvent).
func CheckEvent(t TB, body []byte) {
	t.Helper()
	report(t, body, func(v *Validator) error { return v.ValidateEvent(body) })
}

// ValidateOutcome checks a durable outcome whose command is not known (a
// message of <prefix>.results.<id>): the error schema when status is not
// 200, else the reply schema of at least one durable command.
func (v *Validator) ValidateOutcome(status int, body []byte) error {
	if status != 200 {
		return v.ValidateReply("", status, body)
	}
	var first error
	for _, c := range schemas.DurableCommands {
		err := v.Validate(schemas.Reply(c), body)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return fmt.Errorf("schemas: outcome matches no durable command's reply; first: %v", first)
}

// CheckOutcome reports on t when a durable outcome breaks the schemas (see
// ValidateOutcome).
func CheckOutcome(t TB, status int, body []byte) {
	t.Helper()
	report(t, body, func(v *Validator) error { return v.ValidateOutcome(status, body) })
}

// report runs check with the default Validator and reports its error on t.
func report(t TB, body []byte, check func(*Validator) error) {
	t.Helper()
	v, err := Default()
	if err == nil {
		err = check(v)
	}
	if err != nil {
		t.Errorf("%v\nbody: %.2000s", err, body)
	}
}
