package workerclient

import "context"

// Command names, as in the subjects <prefix>.svc.<name> and <prefix>.cmd.<name>.
const (
	CmdCreateUser         = "users.create"
	CmdUpdateUser         = "users.update"
	CmdGetUser            = "users.get"
	CmdDeleteUser         = "users.delete"
	CmdSearchUsers        = "users.search"
	CmdSearchUsersByEmail = "users.search_by_email"
	CmdAPICall            = "api.call"
)

// CreateUser creates a user (users.create) and returns it as Auth0 did.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest, opts ...CallOption) (*User, error) {
	return c.userCommand(ctx, CmdCreateUser, req, opts)
}

// UpdateUser changes a user (users.update) and returns the updated user.
func (c *Client) UpdateUser(ctx context.Context, req UpdateUserRequest, opts ...CallOption) (*User, error) {
	return c.userCommand(ctx, CmdUpdateUser, req, opts)
}

// GetUser reads a user (users.get); a missing one is ErrNotFound.
func (c *Client) GetUser(ctx context.Context, userID string, opts ...CallOption) (*User, error) {
	return c.userCommand(ctx, CmdGetUser, userIDBody{userID}, opts)
}

// DeleteUser deletes a user (users.delete); a user already gone is success.
func (c *Client) DeleteUser(ctx context.Context, userID string, opts ...CallOption) error {
	_, err := c.request(ctx, CmdDeleteUser, userIDBody{userID}, opts)
	return err
}

// SearchUsers runs a Lucene query (users.search).
func (c *Client) SearchUsers(ctx context.Context, req SearchRequest, opts ...CallOption) (*SearchResult, error) {
	r, err := c.request(ctx, CmdSearchUsers, req, opts)
	if err != nil {
		return nil, err
	}
	var res SearchResult
	return &res, decodeInto(CmdSearchUsers, r, &res)
}

// SearchUsersByEmail returns every user with that email
// (users.search_by_email).
func (c *Client) SearchUsersByEmail(ctx context.Context, email string, opts ...CallOption) ([]User, error) {
	r, err := c.request(ctx, CmdSearchUsersByEmail, struct {
		Email string `json:"email"`
	}{email}, opts)
	if err != nil {
		return nil, err
	}
	var res struct {
		Users []User `json:"users"`
	}
	return res.Users, decodeInto(CmdSearchUsersByEmail, r, &res)
}

// APICall makes an allowed Management API call (api.call). Auth0's own
// status, even 4xx, is in the APIResponse, not an error; an error means
// the worker refused or could not make the call.
func (c *Client) APICall(ctx context.Context, req APIRequest, opts ...CallOption) (*APIResponse, error) {
	r, err := c.request(ctx, CmdAPICall, req, opts)
	if err != nil {
		return nil, err
	}
	return decodeChange[APIResponse](r.body, r.truncated, CmdAPICall+": decode reply")
}

type userIDBody struct {
	UserID string `json:"user_id"`
}

func (c *Client) userCommand(ctx context.Context, command string, req any, opts []CallOption) (*User, error) {
	r, err := c.request(ctx, command, req, opts)
	if err != nil {
		return nil, err
	}
	return decodeChange[User](r.body, r.truncated, command+": decode reply")
}
