package check

import (
	"strings"
	"testing"

	"github.com/auth0-worker/auth0-worker/auth0"
)

// Reproduction: a 5xx from the token endpoint was reported as refused
// credentials.
func TestTokenEndpoint5xxIsNotRefusedCredentials(t *testing.T) {
	const hint = "client credentials refused: check AUTH0_CLIENT_ID"
	if got := explainAuth0(&auth0.TokenError{Status: 503, Code: "service_unavailable"}, hint); strings.Contains(got, "refused") {
		t.Fatalf("503: %s", got)
	}
	if got := explainAuth0(&auth0.TokenError{Status: 401, Code: "access_denied"}, hint); !strings.Contains(got, "refused") {
		t.Fatalf("401: %s", got)
	}
}
