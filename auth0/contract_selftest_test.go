package auth0_test

import (
	"net/http"
	"testing"
)

// The contract transport must actually reject a request the spec forbids,
// or the "every request validates" checks prove nothing.
func TestContractTransportRejectsBadRequest(t *testing.T) {
	v := specValidator(t)
	bad, _ := http.NewRequest("GET", "http://127.0.0.1:1/api/v2/users?per_page=abc", nil)
	bad.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateRequest(bad); err == nil {
		t.Fatal("a per_page=abc request validated")
	}
	good, _ := http.NewRequest("GET", "http://127.0.0.1:1/api/v2/users?per_page=100&page=0&include_totals=true", nil)
	good.Header.Set("Authorization", "Bearer x")
	if err := v.ValidateRequest(good); err != nil {
		t.Fatalf("a good request failed: %v", err)
	}
}
