package contract

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// Form bodies are validated like JSON ones (the library alone passes them
// unchecked), with bracketed keys as objects and typed scalars.
func TestFormRequests(t *testing.T) {
	v := Load(t)
	check := func(method, path, body string) error {
		req := httptest.NewRequest(method, "https://tenant.auth0.com"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer x")
		return v.ValidateRequest(req)
	}
	for _, ok := range []string{
		"connection=Username-Password-Authentication&email=a%40example.com&password=Passw0rd",
		"connection=c&email=a%40example.com&password=x&blocked=true&user_metadata%5Bplan%5D=pro&user_metadata%5Ba%5D%5Bb%5D=1",
	} {
		if err := check("POST", "/api/v2/users", ok); err != nil {
			t.Errorf("valid form create %q rejected: %v", ok, err)
		}
	}
	if err := check("PATCH", "/api/v2/users/auth0%7C1", "app_metadata%5Bplan%5D=pro&email_verified=false"); err != nil {
		t.Errorf("valid form update rejected: %v", err)
	}
	for _, bad := range []string{
		"connection=c&shoe_size=44",                    // unknown property
		"connection=c&blocked=maybe",                   // not a boolean
		"connection=c&phone_number=12",                 // pattern
		"email=a%40example.com&password=x",             // no connection
		"connection=c&user_metadata=not-an-object&x=1", // wrong type
	} {
		if err := check("POST", "/api/v2/users", bad); !errors.Is(err, ErrMismatch) {
			t.Errorf("invalid form create %q accepted: %v", bad, err)
		}
	}
}
