package emulator

import (
	"encoding/json"
	"net/http"
)

// apiError is the Management API error body. errorCode is omitted when
// empty, as Auth0 does for some errors (401s among them).
type apiError struct {
	StatusCode int    `json:"statusCode"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	ErrorCode  string `json:"errorCode,omitempty"`
}

// writeAPIError answers with Auth0's Management API error shape:
// {"statusCode":404,"error":"Not Found","message":"...","errorCode":"..."}.
func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{StatusCode: status, Error: http.StatusText(status), Message: message, ErrorCode: code})
}

// writeOAuthError answers /oauth/token errors with the OAuth shape, which is
// not the Management API one.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"statusCode":500,"error":"Internal Server Error","message":"encode response"}`)
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Messages and codes Auth0 uses; tests of other packages may match on codes.
const (
	msgNotFoundUser = "The user does not exist."
	msgUserExists   = "The user already exists."
	msgRateLimited  = "Global limit has been reached"
	msgInvalidPage  = "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation"
	msgUnavailable  = "The service is unavailable, please retry later."
)
