package emulator

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

type propKind int

const (
	kString propKind = iota
	kBool
	kObject
)

type propSpec struct {
	kind     propKind
	nullable bool
	min, max int // string length bounds; max 0 = none
	format   string
	pattern  *regexp.Regexp
}

var (
	phonePattern   = regexp.MustCompile(`^\+[0-9]{1,15}$`)
	noSpacePattern = regexp.MustCompile(`^\S*$`)
	emailPattern   = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)
)

// createProps is CreateUserRequestContent of the spec (additionalProperties: false).
var createProps = map[string]propSpec{
	"email":          {kind: kString, format: "email"},
	"phone_number":   {kind: kString, pattern: phonePattern},
	"user_metadata":  {kind: kObject},
	"blocked":        {kind: kBool},
	"email_verified": {kind: kBool},
	"phone_verified": {kind: kBool},
	"app_metadata":   {kind: kObject},
	"given_name":     {kind: kString, min: 1, max: 150},
	"family_name":    {kind: kString, min: 1, max: 150},
	"name":           {kind: kString, min: 1, max: 300},
	"nickname":       {kind: kString, min: 1, max: 300},
	"picture":        {kind: kString, format: "uri"},
	"user_id":        {kind: kString, max: 255, pattern: noSpacePattern},
	"connection":     {kind: kString, min: 1},
	"password":       {kind: kString, min: 1},
	"verify_email":   {kind: kBool},
	"username":       {kind: kString, min: 1, max: 128},
}

// updateProps is UpdateUserRequestContent. The spec allows additional
// properties there, but Auth0 refuses unknown and read-only ones.
var updateProps = map[string]propSpec{
	"blocked":             {kind: kBool},
	"email_verified":      {kind: kBool},
	"email":               {kind: kString, nullable: true, format: "email"},
	"phone_number":        {kind: kString, nullable: true, pattern: phonePattern},
	"phone_verified":      {kind: kBool},
	"user_metadata":       {kind: kObject},
	"app_metadata":        {kind: kObject},
	"given_name":          {kind: kString, nullable: true, min: 1, max: 150},
	"family_name":         {kind: kString, nullable: true, min: 1, max: 150},
	"name":                {kind: kString, nullable: true, min: 1, max: 300},
	"nickname":            {kind: kString, nullable: true, min: 1, max: 300},
	"picture":             {kind: kString, nullable: true, format: "uri"},
	"verify_email":        {kind: kBool},
	"verify_phone_number": {kind: kBool},
	"password":            {kind: kString, nullable: true, min: 1},
	"connection":          {kind: kString, min: 1},
	"client_id":           {kind: kString},
	"username":            {kind: kString, nullable: true, min: 1, max: 128},
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// validateBody checks body against specs and returns Auth0's
// "Payload validation error: ..." message, or "" when valid.
func validateBody(body map[string]any, specs map[string]propSpec, required []string) string {
	var unknown []string
	for k := range body {
		if _, ok := specs[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Sprintf("Payload validation error: 'Additional properties not allowed: %s'.", strings.Join(unknown, ","))
	}
	for _, r := range required {
		if _, ok := body[r]; !ok {
			return fmt.Sprintf("Payload validation error: 'Missing required property: %s'.", r)
		}
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, spec := body[k], specs[k]
		if v == nil {
			if spec.nullable {
				continue
			}
		}
		want := map[propKind]string{kString: "string", kBool: "boolean", kObject: "object"}[spec.kind]
		if got := jsonType(v); got != want {
			return fmt.Sprintf("Payload validation error: 'Expected type %s but found type %s' on property %s.", want, got, k)
		}
		s, ok := v.(string)
		if !ok {
			continue
		}
		if msg := spec.checkString(k, s); msg != "" {
			return msg
		}
	}
	return ""
}

// checkString checks a string property's length, pattern and format.
func (spec propSpec) checkString(k, s string) string {
	n := utf8.RuneCountInString(s)
	if n < spec.min {
		return fmt.Sprintf("Payload validation error: 'String is too short (%d chars), minimum %d' on property %s.", n, spec.min, k)
	}
	if spec.max > 0 && n > spec.max {
		return fmt.Sprintf("Payload validation error: 'String is too long (%d chars), maximum %d' on property %s.", n, spec.max, k)
	}
	if spec.pattern != nil && !spec.pattern.MatchString(s) {
		return fmt.Sprintf("Payload validation error: 'String does not match pattern %s: %s' on property %s.", spec.pattern.String(), s, k)
	}
	switch spec.format {
	case "email":
		if !emailPattern.MatchString(s) {
			return fmt.Sprintf("Payload validation error: 'Object didn't pass validation for format email: %s' on property %s.", s, k)
		}
	case "uri":
		if !strings.Contains(s, "://") || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Sprintf("Payload validation error: 'Object didn't pass validation for format strict-uri: %s' on property %s.", s, k)
		}
	}
	return ""
}

// readOnlyProps are profile fields PATCH refuses by name (clearer than the
// generic unknown-property message).
var readOnlyProps = map[string]bool{
	"user_id": true, "created_at": true, "updated_at": true, "identities": true,
	"last_login": true, "logins_count": true, "last_ip": true, "last_password_reset": true,
	"multifactor": true, "multifactor_last_modified": true,
}
