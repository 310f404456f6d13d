package workerclient

import "encoding/json"

// User is an Auth0 user as the worker relays it. The common fields are
// typed; Raw holds the whole object as Auth0 sent it (Auth0 adds fields,
// and identities[].user_id may be a number). Times are Auth0's strings,
// verbatim (RFC 3339).
type User struct {
	UserID        string          `json:"user_id"`
	Email         string          `json:"email,omitempty"`
	EmailVerified bool            `json:"email_verified,omitempty"`
	PhoneNumber   string          `json:"phone_number,omitempty"`
	PhoneVerified bool            `json:"phone_verified,omitempty"`
	Username      string          `json:"username,omitempty"`
	Name          string          `json:"name,omitempty"`
	GivenName     string          `json:"given_name,omitempty"`
	FamilyName    string          `json:"family_name,omitempty"`
	Nickname      string          `json:"nickname,omitempty"`
	Picture       string          `json:"picture,omitempty"`
	Blocked       bool            `json:"blocked,omitempty"`
	CreatedAt     string          `json:"created_at,omitempty"`
	UpdatedAt     string          `json:"updated_at,omitempty"`
	DeletedAt     string          `json:"deleted_at,omitempty"`
	UserMetadata  map[string]any  `json:"user_metadata,omitempty"`
	AppMetadata   map[string]any  `json:"app_metadata,omitempty"`
	Identities    json.RawMessage `json:"identities,omitempty"`

	// Truncated is set when the worker cut a change's reply to
	// {"user_id", "truncated": true} because it exceeded the connection's
	// max payload (header Auth0-Outcome-Truncated): the change happened;
	// GetUser reads the user.
	Truncated bool `json:"truncated,omitempty"`

	// Raw is the JSON object as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the typed fields and keeps the object in Raw.
func (u *User) UnmarshalJSON(b []byte) error {
	type plain User
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*u = User(p)
	u.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// CreateUserRequest is the body of users.create: Auth0's create-user fields.
// Connection is required; a nil pointer or empty string is left out.
type CreateUserRequest struct {
	Connection    string         `json:"connection"`
	Email         string         `json:"email,omitempty"`
	PhoneNumber   string         `json:"phone_number,omitempty"`
	UserMetadata  map[string]any `json:"user_metadata,omitempty"`
	AppMetadata   map[string]any `json:"app_metadata,omitempty"`
	Blocked       *bool          `json:"blocked,omitempty"`
	EmailVerified *bool          `json:"email_verified,omitempty"`
	PhoneVerified *bool          `json:"phone_verified,omitempty"`
	VerifyEmail   *bool          `json:"verify_email,omitempty"`
	GivenName     string         `json:"given_name,omitempty"`
	FamilyName    string         `json:"family_name,omitempty"`
	Name          string         `json:"name,omitempty"`
	Nickname      string         `json:"nickname,omitempty"`
	Picture       string         `json:"picture,omitempty"`
	UserID        string         `json:"user_id,omitempty"`
	Password      string         `json:"password,omitempty"`
	Username      string         `json:"username,omitempty"`
}

// UpdateUserRequest is the body of users.update: the user's id and the
// fields to change. Nil pointers are left alone; Clear lists fields to
// remove (sent as null), e.g. "nickname".
type UpdateUserRequest struct {
	UserID        string
	Connection    *string
	ClientID      *string
	Email         *string
	PhoneNumber   *string
	UserMetadata  map[string]any
	AppMetadata   map[string]any
	Blocked       *bool
	EmailVerified *bool
	PhoneVerified *bool
	VerifyEmail   *bool
	GivenName     *string
	FamilyName    *string
	Name          *string
	Nickname      *string
	Picture       *string
	Password      *string
	Username      *string
	Clear         []string
}

// MarshalJSON writes the users.update body.
func (r UpdateUserRequest) MarshalJSON() ([]byte, error) {
	m := map[string]any{"user_id": r.UserID}
	for _, f := range r.Clear {
		m[f] = nil
	}
	put := func(k string, set bool, v any) {
		if set {
			m[k] = v
		}
	}
	put("connection", r.Connection != nil, r.Connection)
	put("client_id", r.ClientID != nil, r.ClientID)
	put("email", r.Email != nil, r.Email)
	put("phone_number", r.PhoneNumber != nil, r.PhoneNumber)
	put("user_metadata", r.UserMetadata != nil, r.UserMetadata)
	put("app_metadata", r.AppMetadata != nil, r.AppMetadata)
	put("blocked", r.Blocked != nil, r.Blocked)
	put("email_verified", r.EmailVerified != nil, r.EmailVerified)
	put("phone_verified", r.PhoneVerified != nil, r.PhoneVerified)
	put("verify_email", r.VerifyEmail != nil, r.VerifyEmail)
	put("given_name", r.GivenName != nil, r.GivenName)
	put("family_name", r.FamilyName != nil, r.FamilyName)
	put("name", r.Name != nil, r.Name)
	put("nickname", r.Nickname != nil, r.Nickname)
	put("picture", r.Picture != nil, r.Picture)
	put("password", r.Password != nil, r.Password)
	put("username", r.Username != nil, r.Username)
	return json.Marshal(m)
}

// SearchRequest is the body of users.search.
type SearchRequest struct {
	// Query is a Lucene query (Auth0's q); empty lists all users.
	Query string `json:"query,omitempty"`
	// Limit is 1..1000; 0 means the worker's default, 50.
	Limit int `json:"limit,omitempty"`
	// Sort is Auth0's sort, e.g. "created_at:1".
	Sort string `json:"sort,omitempty"`
	// Fields is Auth0's fields, e.g. "user_id,email".
	Fields string `json:"fields,omitempty"`
}

// SearchResult is the reply of users.search.
type SearchResult struct {
	Users []User `json:"users"`
	// Total is the number of matches Auth0 reported (may exceed len(Users)).
	Total int `json:"total"`
}

// APIRequest is the body of api.call: a Management API call relative to
// /api/v2, allowed by the worker's AUTH0_API_CALL_ALLOW.
type APIRequest struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query,omitempty"`
	// Headers: only Accept, Content-Type and X-Correlation-ID.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is any JSON value (json.RawMessage passes through as is).
	Body any `json:"body,omitempty"`
}

// APIResponse is Auth0's answer to an api.call, whatever its status.
type APIResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is Auth0's body as JSON (a JSON string when it was not JSON).
	Body json.RawMessage `json:"body,omitempty"`
	// Truncated: the call changed something and its reply exceeded the
	// connection's max payload; only Status is known.
	Truncated bool `json:"truncated,omitempty"`
}
