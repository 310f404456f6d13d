package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Redaction fails closed (README "Commands"): a member whose name is one of the
// secret names (any case, however it is escaped) has its value replaced by
// "[redacted]" at any depth; a body that cannot be parsed, or nests deeper
// than redactMaxDepth, and mentions a secret name in any case is replaced
// whole by "[redacted]".

const redacted = `"[redacted]"`

// redactMaxDepth bounds the walk; deeper bodies are judged as unparsable.
const redactMaxDepth = 64

var (
	replySecrets = []string{"client_secret"}
	dlqSecrets   = []string{"client_secret", "password"}
)

var errTooDeep = errors.New("nested too deep")

// redactBody returns b with every secrets member redacted (fail closed).
// A JSON string value (a non-JSON body Auth0 sent, wrapped) that mentions a
// secret name is replaced whole.
func redactBody(b []byte, secrets []string) []byte {
	if !mentions(b, secrets) {
		return b
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out bytes.Buffer
	if err := redactWalk(dec, &out, secrets, 0); err != nil {
		return []byte(redacted)
	}
	if _, err := dec.Token(); err == nil { // trailing data: not one JSON value
		return []byte(redacted)
	}
	if out.Len() > 0 && out.Bytes()[0] == '"' && mentions(out.Bytes(), secrets) {
		return []byte(redacted)
	}
	return out.Bytes()
}

// mentions reports whether b names a secret in any case, or holds an
// escape that could spell one.
func mentions(b []byte, secrets []string) bool {
	if bytes.IndexByte(b, '\\') >= 0 {
		return true
	}
	lower := bytes.ToLower(b)
	for _, s := range secrets {
		if bytes.Contains(lower, []byte(s)) {
			return true
		}
	}
	return false
}

func isSecret(k string, secrets []string) bool {
	for _, s := range secrets {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

func redactWalk(dec *json.Decoder, out *bytes.Buffer, secrets []string, depth int) error {
	if depth > redactMaxDepth {
		return errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		vb, err := json.Marshal(tok)
		if err != nil {
			return err
		}
		out.Write(vb)
		return nil
	}
	closing := byte('}')
	if d == '[' {
		closing = ']'
	}
	out.WriteByte(byte(d))
	for first := true; dec.More(); first = false {
		if !first {
			out.WriteByte(',')
		}
		if d == '{' {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			kb, _ := json.Marshal(k)
			out.Write(kb)
			out.WriteByte(':')
			if isSecret(k, secrets) {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
				out.WriteString(redacted)
				continue
			}
		}
		if err := redactWalk(dec, out, secrets, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	out.WriteByte(closing)
	return nil
}
