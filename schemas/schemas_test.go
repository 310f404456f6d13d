package schemas

import (
	"strings"
	"testing"
)

func TestEndpointMetadata(t *testing.T) {
	for _, c := range Commands {
		m, err := EndpointMetadata(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{MetaRequestSchema, MetaResponseSchema, MetaErrorSchema} {
			if !strings.Contains(m[k], `"$schema":"https://json-schema.org/draft/2020-12/schema"`) {
				t.Errorf("%s %s: %.100s", c, k, m[k])
			}
		}
		if !strings.Contains(m[MetaRequestSchema], `"title":"`+c+` request"`) {
			t.Errorf("%s request_schema is not its request's: %.200s", c, m[MetaRequestSchema])
		}
	}
	if _, err := EndpointMetadata("users.nope"); err == nil {
		t.Fatal("metadata for an unknown command")
	}
}
