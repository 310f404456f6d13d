package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// UnmarshalJSON decodes the typed fields and keeps the whole object in Raw.
// It never fails on a user that is valid JSON: an unusable one gets Problem
// set (see DecodeUser), so a page with one bad user still decodes.
func (u *User) UnmarshalJSON(b []byte) error {
	*u = decodeUserShared(bytes.TrimSpace(b)) // encoding/json validated b
	u.Raw = append(json.RawMessage(nil), u.Raw...)
	return nil
}

// MarshalJSON writes Raw (the object as Auth0 returned it); a User built by
// hand without Raw is written from its typed fields.
func (u User) MarshalJSON() ([]byte, error) {
	if len(u.Raw) > 0 {
		return u.Raw, nil
	}
	type plain User
	return json.Marshal(plain(u))
}

// UnmarshalJSON accepts a JSON string or number.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("auth0: identities[].user_id: want a string or a number, got %s", truncate(b, 40))
	}
	*f = FlexString(n.String())
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func needID(op, userID string) error {
	if userID == "" {
		return fmt.Errorf("auth0: %s: %w: user_id is empty", op, ErrInvalidRequest)
	}
	return nil
}

func decodeUser(op string, body []byte) (*User, error) {
	var u User
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, fmt.Errorf("auth0: %s: decode user: %w", op, err)
	}
	return &u, nil
}

// GetUser reads one user (immediately consistent, unlike search). A missing
// user is an *APIError with Status 404 (errors.Is(err, ErrNotFound)).
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	if err := needID("users.get", userID); err != nil {
		return nil, err
	}
	res, err := c.do(ctx, &call{op: "users.get", method: http.MethodGet, path: "/users/" + escapeID(userID)})
	if err != nil {
		return nil, err
	}
	return decodeUser("users.get", res.body)
}

// CreateUser posts body (already validated JSON) to /users. It is retried
// only when Auth0 certainly did not process it (429, connection never made);
// any other failure that leaves the outcome unknown (timeout, 5xx, a dropped
// connection) wraps ErrAmbiguous: check whether the user exists before
// trying again.
func (c *Client) CreateUser(ctx context.Context, body json.RawMessage) (*User, error) {
	if !json.Valid(body) {
		return nil, fmt.Errorf("auth0: users.create: %w: body is not valid JSON", ErrInvalidRequest)
	}
	res, err := c.do(ctx, &call{op: "users.create", method: http.MethodPost, path: "/users", body: body})
	if err != nil {
		return nil, err
	}
	return decodeUser("users.create", res.body)
}

// UpdateUser patches one user. PATCH is retried like a GET: sending the
// same body twice leaves the same state.
func (c *Client) UpdateUser(ctx context.Context, userID string, body json.RawMessage) (*User, error) {
	if err := needID("users.update", userID); err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("auth0: users.update: %w: body is not valid JSON", ErrInvalidRequest)
	}
	res, err := c.do(ctx, &call{op: "users.update", method: http.MethodPatch, path: "/users/" + escapeID(userID), body: body})
	if err != nil {
		return nil, err
	}
	return decodeUser("users.update", res.body)
}

// DeleteUser deletes one user; nil also when it was already gone (204 or 404).
func (c *Client) DeleteUser(ctx context.Context, userID string) error {
	if err := needID("users.delete", userID); err != nil {
		return err
	}
	_, err := c.do(ctx, &call{op: "users.delete", method: http.MethodDelete, path: "/users/" + escapeID(userID)})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// UsersByEmail lists users with this email across connections ([] when
// none). Immediately consistent. Auth0 matches the email case-insensitively.
func (c *Client) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	if email == "" {
		return nil, fmt.Errorf("auth0: users.by_email: %w: email is empty", ErrInvalidRequest)
	}
	res, err := c.do(ctx, &call{op: "users.by_email", method: http.MethodGet, path: "/users-by-email", query: url.Values{"email": {email}}})
	if err != nil {
		return nil, err
	}
	users := []User{}
	if err := json.Unmarshal(res.body, &users); err != nil {
		return nil, fmt.Errorf("auth0: users.by_email: decode: %w", err)
	}
	return users, nil
}

// searchQuery builds the GET /users query string.
func searchQuery(p SearchParams, perPage int) url.Values {
	q := url.Values{}
	if p.Query != "" {
		q.Set("q", p.Query)
	}
	q.Set("search_engine", "v3")
	if p.Sort != "" {
		q.Set("sort", p.Sort)
	}
	if p.Fields != "" {
		q.Set("fields", p.Fields)
	}
	if p.IncludeFields != nil {
		q.Set("include_fields", strconv.FormatBool(*p.IncludeFields))
	}
	if p.Connection != "" {
		q.Set("connection", p.Connection)
	}
	q.Set("page", strconv.Itoa(p.Page))
	q.Set("per_page", strconv.Itoa(perPage))
	q.Set("include_totals", "true")
	return q
}

// SearchUsers reads one page with include_totals=true (search_engine=v3 when
// there is a query). Search is eventually consistent: a user created a
// moment ago may be missing. Pages past SearchCap results answer 400
// invalid_paging; SearchUsers refuses them before sending.
func (c *Client) SearchUsers(ctx context.Context, p SearchParams) (*UsersPage, error) {
	perPage := p.PerPage
	if perPage == 0 {
		perPage = 50
	}
	if perPage < 1 || perPage > 100 {
		return nil, fmt.Errorf("auth0: users.search: %w: per_page %d must be 1..100", ErrInvalidRequest, p.PerPage)
	}
	if p.Page < 0 {
		return nil, fmt.Errorf("auth0: users.search: %w: page %d must be >= 0", ErrInvalidRequest, p.Page)
	}
	if (p.Page+1)*perPage > SearchCap {
		return nil, fmt.Errorf("auth0: users.search: %w: page %d of %d reaches past the %d-result cap", ErrInvalidRequest, p.Page, perPage, SearchCap)
	}
	return c.searchPage(ctx, p, perPage)
}

// searchPage reads one page; a page over Config.MaxResponseBytes is read
// again as smaller pages covering the same positions (per_page a divisor of
// the one asked, down to 1), and returned as the page asked for. One user
// over the limit on its own is a *ResponseTooLargeError.
func (c *Client) searchPage(ctx context.Context, p SearchParams, perPage int) (*UsersPage, error) {
	res, err := c.do(ctx, &call{op: "users.search", method: http.MethodGet, path: "/users", query: searchQuery(p, perPage)})
	if errors.Is(err, ErrResponseTooLarge) && perPage > 1 {
		return c.searchSplit(ctx, p, perPage)
	}
	if err != nil {
		return nil, err
	}
	return decodeUsersPage(res.body)
}

func (c *Client) searchSplit(ctx context.Context, p SearchParams, perPage int) (*UsersPage, error) {
	sub := smallerDivisor(perPage)
	c.log.Warn("auth0: users.search: page too large; reading it in smaller pages", "per_page", perPage, "smaller", sub, "limit", c.cfg.MaxResponseBytes)
	out := &UsersPage{Start: p.Page * perPage, Limit: perPage}
	for i := 0; i < perPage/sub; i++ {
		sp := p
		sp.Page = p.Page*perPage/sub + i
		page, err := c.searchPage(ctx, sp, sub)
		if err != nil {
			return nil, err
		}
		out.Users = append(out.Users, page.Users...)
		out.Total = page.Total
		if len(page.Users) < sub {
			break
		}
	}
	if out.Users == nil {
		out.Users = []User{}
	}
	return out, nil
}

// smallerDivisor is the largest divisor of n below n (1 for a prime), so
// the smaller pages tile the positions of the larger one exactly:
// 100 → 50 → 25 → 5 → 1.
func smallerDivisor(n int) int {
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return n / d
		}
	}
	return 1
}

// decodeUsersPage accepts the include_totals object and, for robustness, a
// bare array.
func decodeUsersPage(body []byte) (*UsersPage, error) {
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		var users []User
		if err := json.Unmarshal(b, &users); err != nil {
			return nil, fmt.Errorf("auth0: users.search: decode: %w", err)
		}
		return &UsersPage{Users: users, Limit: len(users), Total: len(users)}, nil
	}
	var page struct {
		Start int    `json:"start"`
		Limit int    `json:"limit"`
		Total int    `json:"total"`
		Users []User `json:"users"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("auth0: users.search: decode: %w", err)
	}
	if page.Users == nil {
		page.Users = []User{}
	}
	return &UsersPage{Users: page.Users, Start: page.Start, Limit: page.Limit, Total: page.Total}, nil
}
