// Package schemas holds the JSON Schemas (draft 2020-12) of the worker's
// public messages: every command's request and success reply, the error
// body, and every event type (README "The event", "User life cycle", "Bad data", "Commands"). The .json files
// of this folder are the one place these shapes are written down; the
// worker publishes them in its micro endpoints' metadata and the tests
// validate real replies and events against them (package schemacheck).
//
// Schema names are the file names without ".json": Request(command),
// Reply(command), Error, Event(type), plus the shared parts they refer to
// (user, user_id, email, phone_number, truncated_change, cloudevent).
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed *.json
var files embed.FS

// BaseURI is the prefix of every schema's $id; a file's $id is
// BaseURI + name + ".json".
const BaseURI = "https://github.com/auth0-worker/auth0-worker/schemas/"

// Error is the name of the error body's schema.
const Error = "error"

// Commands are the commands that have a request and a reply schema, in the
// order of README "Commands".
var Commands = []string{
	"users.create", "users.update", "users.get", "users.delete",
	"users.search", "users.search_by_email", "api.call",
}

// DurableCommands are the commands of the durable transport (README "Commands").
var DurableCommands = []string{"users.create", "users.update", "users.delete", "api.call"}

// EventTypes are the event types that have a schema (README "User life cycle").
var EventTypes = []string{"user.created", "user.updated", "user.deleted"}

// Request is the name of a command's request schema ("users.create.request").
func Request(command string) string { return command + ".request" }

// Reply is the name of a command's success reply schema.
func Reply(command string) string { return command + ".reply" }

// Event is the name of an event type's schema ("event.user.created"); the
// CloudEvents type is "com.auth0." + eventType.
func Event(eventType string) string { return "event." + eventType }

// Names lists every schema, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	slices.Sort(names)
	return names
}

// Raw returns the schema file as written, or an error naming the schema.
func Raw(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("schemas: no schema %q", name)
	}
	return b, nil
}

// Bundle returns the schema as one self-contained compact JSON document: the
// schemas it refers to (transitively) are embedded under $defs with their
// own $id, the 2020-12 way of bundling, so its relative $refs resolve
// without fetching anything. This is what a micro endpoint's metadata holds.
func Bundle(name string) ([]byte, error) {
	root, err := load(name)
	if err != nil {
		return nil, err
	}
	defs := map[string]any{}
	var visit func(v any) error
	visit = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); k == "$ref" && ok {
					file, _, _ := strings.Cut(s, "#")
					dep := strings.TrimSuffix(file, ".json")
					if _, seen := defs[dep]; file == "" || seen || dep == name {
						continue
					}
					d, err := load(dep)
					if err != nil {
						return err
					}
					delete(d, "$schema")
					defs[dep] = d
					if err := visit(d); err != nil {
						return err
					}
					continue
				}
				if err := visit(x); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := visit(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit(root); err != nil {
		return nil, err
	}
	if len(defs) > 0 {
		root["$defs"] = defs
	}
	return json.Marshal(root)
}

func load(name string) (map[string]any, error) {
	b, err := Raw(name)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("schemas: %s: %v", name, err)
	}
	return m, nil
}
