package consumer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/schemas"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
)

// decoderOnly are the rules the decoders apply beyond the request schemas,
// each one a JSON Schema cannot state (the schema's description says it).
// A body the schema accepts and the decoder refuses must break one of them;
// every other body gets the same verdict from both, so a caller that
// validates against the published schema learns what the worker would say.
var decoderOnly = []struct {
	command, why string
	applies      func(decErr error) bool
}{
	{CmdAPICall, "path rules: percent-decoding, dot(-like) segments, //, ;",
		func(err error) bool { return strings.Contains(err.Error(), `field "path"`) }},
	{CmdSearch, "query over 4,096 bytes: JSON Schema's maxLength counts characters",
		func(err error) bool {
			return strings.Contains(err.Error(), `field "query"`) && strings.Contains(err.Error(), "bytes")
		}},
	{CmdSearch, "limit written as 1e3 or 1000.0: JSON Schema's integer is the value, the decoder wants integer syntax",
		func(err error) bool {
			return strings.Contains(err.Error(), `field "limit" must be an integer, got number`)
		}},
}

func decoderOnlyRule(command string, decErr error) string {
	for _, r := range decoderOnly {
		if r.command == command && decErr != nil && r.applies(decErr) {
			return r.why
		}
	}
	return ""
}

// agreementSeeds are the checked-in fuzz corpora of the decoders, per command.
var agreementSeeds = map[string][]string{
	CmdCreate:        {"FuzzDecodeCreate"},
	CmdUpdate:        {"FuzzDecodeUpdate"},
	CmdGet:           {"FuzzDecodeUserID"},
	CmdDelete:        {"FuzzDecodeUserID"},
	CmdSearch:        {"FuzzDecodeSearch"},
	CmdSearchByEmail: {"FuzzDecodeSearchByEmail"},
	CmdAPICall:       {"FuzzDecodeAPICall"},
}

// agreementExtra are bodies at the edges of the rules, beyond the corpora.
var agreementExtra = map[string][]string{
	CmdCreate: {
		`{"connection":""}`, `{"connection":"c","email":"Ada <a@example.com>"}`, `{"connection":"c","email":"a@example.com"}`,
		`{"connection":"c","phone_number":"+14155550100"}`, `{"connection":"c","phone_number":"+1415555010000000"}`,
		`{"connection":"c","blocked":"true"}`, `{"connection":"c","user_metadata":[]}`, `[]`, `{"connection":"c"} `,
	},
	CmdUpdate: {
		`{"user_id":"a","email":null}`, `{"user_id":null,"name":"x"}`, `{"user_id":"a","created_at":"x"}`,
		`{"user_id":"a","phone_number":null,"blocked":null}`, `{"user_id":"","name":"x"}`,
	},
	CmdGet: {`{"user_id":"."}`, `{"user_id":"a.b"}`, "{\"user_id\":\"a\\u007f\"}", `{"user_id":"auth0|1","x":1}`, `{}`, "{\"user_id\":\"a\\ufffd\"}", "{\"user_id\":\"a\xff\"}"},
	CmdSearch: {
		`{}`, `{"limit":1}`, `{"limit":0}`, `{"limit":1000}`, `{"limit":1001}`, `{"limit":50.5}`, `{"limit":-1}`,
		`{"query":"` + strings.Repeat("a", 4096) + `"}`, `{"query":"` + strings.Repeat("a", 4097) + `"}`,
	},
	CmdSearchByEmail: {`{"email":"a@example.com"}`, `{"email":"not an email"}`, `{"email":""}`, `{"email":"a@b"}`},
	CmdAPICall: {
		`{"method":"GET","path":"/users"}`, `{"method":"OPTIONS","path":"/users"}`, `{"method":"GET","path":"users"}`,
		`{"method":"GET","path":"/users","query":{"q":1}}`, `{"method":"GET","path":"/users","query":{"q":["a",1]}}`,
		`{"method":"GET","path":"/users","headers":{"Host":"x"}}`, `{"method":"GET","path":"/users","headers":{"Accept":1}}`,
		`{"method":"POST","path":"/users","body":[1,2]}`, "{\"method\":\"GET\",\"path\":\"/users\",\"headers\":{\"Accept\":\"a\\u007fb\"}}",
	},
}

func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s: not a []byte fuzz seed", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[1]), "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// TestRequestSchemasAgreeWithDecoders feeds the decoders' fuzz corpora and
// edge cases to both the decoder and the command's request schema.
func TestRequestSchemasAgreeWithDecoders(t *testing.T) {
	v, err := schemacheck.Default()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	set := builtinSet(t)
	for _, command := range set.names(TransportService) {
		var bodies [][]byte
		for _, dir := range agreementSeeds[command] {
			files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
			for _, f := range files {
				bodies = append(bodies, readSeed(t, f))
			}
		}
		for _, b := range agreementExtra[command] {
			bodies = append(bodies, []byte(b))
		}
		for _, body := range bodies {
			n++
			decErr := set.on(TransportService, command).Handler.validate(body)
			schErr := v.Validate(schemas.Request(command), body)
			if (decErr == nil) == (schErr == nil) {
				continue
			}
			if why := decoderOnlyRule(command, decErr); why != "" && schErr == nil {
				t.Logf("%s %s: decoder only (%s)", command, body, why)
				continue
			}
			t.Errorf("%s %.200q: decoder says %v, schema says %v", command, body, decErr, schErr)
		}
	}
	if n < 60 {
		t.Fatalf("only %d bodies compared; the corpora went missing", n)
	}
}
