package emulator

// The tenant's connections: POST /users names one, and Auth0 refuses a name
// the tenant does not have (400 inexistent_connection), a password outside a
// database connection, and a password its policy finds too weak.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// Connection strategies the emulator knows. Any other strategy is a social
// provider (google-oauth2, github, ...), whose users cannot be created
// through the Management API.
const (
	StrategyDatabase = "auth0" // a database connection: email and password
	StrategyEmail    = "email" // passwordless by email: email, no password
	StrategySMS      = "sms"   // passwordless by SMS: phone_number, no password
)

// Connection is one connection of the emulated tenant.
type Connection struct {
	Name string `json:"name"`
	// Strategy is StrategyDatabase (the default), StrategyEmail,
	// StrategySMS or a social provider name such as "google-oauth2".
	Strategy string `json:"strategy,omitempty"`
}

// isDatabase reports whether passwords belong to the connection.
func (c Connection) isDatabase() bool { return c.Strategy == StrategyDatabase }

// provider is the identity provider of the connection's users: the prefix
// of their user_id and identities[].provider.
func (c Connection) provider() string { return c.Strategy }

// Password policies of a database connection (Knobs.PasswordPolicy), as
// Auth0 names them; "" is PolicyNone, Auth0's default.
const (
	PolicyNone      = "none"      // at least 1 character
	PolicyLow       = "low"       // at least 6 characters
	PolicyFair      = "fair"      // at least 8, with lower case, upper case and a digit
	PolicyGood      = "good"      // at least 8, with 3 of: lower, upper, digit, special
	PolicyExcellent = "excellent" // at least 10, 3 of the 4 kinds, no 3 identical in a row
)

// PasswordPolicies lists the valid Knobs.PasswordPolicy values.
var PasswordPolicies = []string{PolicyNone, PolicyLow, PolicyFair, PolicyGood, PolicyExcellent}

// msgPasswordWeak is Auth0's Management API answer (400, no errorCode) to a
// password its policy refuses.
const msgPasswordWeak = "PasswordStrengthError: Password is too weak"

// connections is the tenant's set of connections.
type connections struct {
	mu     sync.RWMutex
	byName map[string]Connection
}

func newConnections(extra []Connection) (*connections, error) {
	cs := &connections{byName: map[string]Connection{DefaultConnection: {Name: DefaultConnection, Strategy: StrategyDatabase}}}
	return cs, cs.add(extra)
}

// ErrInvalidConnection is returned for a connection without a name, or one
// whose name or strategy cannot be used.
var ErrInvalidConnection = errors.New("invalid connection")

func (cs *connections) add(list []Connection) error {
	for _, c := range list {
		if strings.TrimSpace(c.Name) == "" || strings.ContainsAny(c.Name, "|\x00") {
			return fmt.Errorf("emulator: connection %q: %w: a name is required, without '|'", c.Name, ErrInvalidConnection)
		}
		if strings.ContainsAny(c.Strategy, "| \x00") {
			return fmt.Errorf("emulator: connection %q: %w: strategy %q", c.Name, ErrInvalidConnection, c.Strategy)
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range list {
		if c.Strategy == "" {
			c.Strategy = StrategyDatabase
		}
		cs.byName[c.Name] = c
	}
	return nil
}

// ensure adds a connection named name unless the tenant has it, with the
// strategy a user id's provider implies (seeding through the admin surface
// may name connections nobody declared).
func (cs *connections) ensure(name, provider string) {
	cs.mu.RLock()
	_, ok := cs.byName[name]
	cs.mu.RUnlock()
	if ok {
		return
	}
	if provider == "" {
		provider = StrategyDatabase
	}
	_ = cs.add([]Connection{{Name: name, Strategy: provider}})
}

func (cs *connections) get(name string) (Connection, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	c, ok := cs.byName[name]
	return c, ok
}

func (cs *connections) list() []Connection {
	cs.mu.RLock()
	out := make([]Connection, 0, len(cs.byName))
	for _, c := range cs.byName {
		out = append(out, c)
	}
	cs.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AddConnections adds connections to the tenant (a name already there is
// replaced). Users of a connection added with a non-database strategy keep
// their connection.
func (e *Emulator) AddConnections(list ...Connection) error { return e.conns.add(list) }

// Connections lists the tenant's connections by name.
func (e *Emulator) Connections() []Connection { return e.conns.list() }

// createConnection checks a POST /users body against its connection: the
// connection exists, a password only for a database connection (and then
// one the policy accepts), the identifier the strategy needs.
func (e *Emulator) createConnection(body map[string]any) (Connection, *httpErr) {
	name, _ := body["connection"].(string)
	c, ok := e.conns.get(name)
	if !ok {
		return c, &httpErr{http.StatusBadRequest, "inexistent_connection", msgNoConnection}
	}
	pw, hasPW := body["password"]
	if hasPW && !c.isDatabase() {
		return c, &httpErr{http.StatusBadRequest, "invalid_body", msgPasswordNotAllowed}
	}
	need := ""
	switch c.Strategy {
	case StrategyDatabase:
		if _, ok := body["email"]; !ok {
			need = "email"
		} else if !hasPW {
			need = "password"
		}
	case StrategyEmail:
		if _, ok := body["email"]; !ok {
			need = "email"
		}
	case StrategySMS:
		if _, ok := body["phone_number"]; !ok {
			need = "phone_number"
		}
	default:
		return c, &httpErr{http.StatusBadRequest, "operation_not_supported", "Connection is not supported for this operation."}
	}
	if need != "" {
		return c, &httpErr{http.StatusBadRequest, "invalid_body", "Payload validation error: 'Missing required property: " + need + "'."}
	}
	if hasPW {
		if herr := e.checkPassword(pw.(string)); herr != nil {
			return c, herr
		}
	}
	return c, nil
}

// patchConnection checks a PATCH body's password against the user's
// connection: refused outside a database connection, else by the policy.
// A connection named in the body (which identity to update) must exist.
func (e *Emulator) patchConnection(userConnection string, body map[string]any) *httpErr {
	if name, ok := body["connection"].(string); ok {
		if _, ok := e.conns.get(name); !ok {
			return &httpErr{http.StatusBadRequest, "inexistent_connection", msgNoConnection}
		}
	}
	pw, ok := body["password"].(string)
	if !ok {
		return nil
	}
	if c, known := e.conns.get(userConnection); known && !c.isDatabase() {
		return &httpErr{http.StatusBadRequest, "invalid_body", msgPasswordNotAllowed}
	}
	return e.checkPassword(pw)
}

func (e *Emulator) checkPassword(pw string) *httpErr {
	if !passwordAllowed(e.Knobs().PasswordPolicy, pw) {
		return &httpErr{http.StatusBadRequest, "", msgPasswordWeak}
	}
	return nil
}

const (
	msgNoConnection       = "The connection does not exist."
	msgPasswordNotAllowed = "Payload validation error: 'password' is only allowed for database connections."
)

// passwordAllowed applies one of Auth0's password policies.
func passwordAllowed(policy, pw string) bool {
	n := len([]rune(pw))
	var lower, upper, digit, special bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			special = true
		}
	}
	kinds := 0
	for _, k := range []bool{lower, upper, digit, special} {
		if k {
			kinds++
		}
	}
	switch policy {
	case PolicyLow:
		return n >= 6
	case PolicyFair:
		return n >= 8 && lower && upper && digit
	case PolicyGood:
		return n >= 8 && kinds >= 3
	case PolicyExcellent:
		return n >= 10 && kinds >= 3 && !threeInARow(pw)
	}
	return n >= 1
}

func threeInARow(s string) bool {
	r := []rune(s)
	for i := 2; i < len(r); i++ {
		if r[i] == r[i-1] && r[i] == r[i-2] {
			return true
		}
	}
	return false
}

// serveAdminConnections is GET /emulator/connections (the list) and POST
// /emulator/connections (one Connection or a JSON array of them; answers
// the new list).
func (e *Emulator) serveAdminConnections(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, e.Connections())
	case http.MethodPost:
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_body", "unreadable body: "+err.Error())
			return
		}
		var list []Connection
		if err := json.Unmarshal(raw, &list); err != nil {
			var one Connection
			if err := json.Unmarshal(raw, &one); err != nil {
				writeAPIError(w, http.StatusBadRequest, "invalid_body", `body must be a connection or a JSON array of them, e.g. [{"name":"Other-DB","strategy":"auth0"}]: `+err.Error())
				return
			}
			list = []Connection{one}
		}
		if err := e.AddConnections(list...); err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_body", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, e.Connections())
	default:
		w.Header().Set("Allow", "GET, POST")
		writeAPIError(w, http.StatusMethodNotAllowed, "", "use GET or POST on /emulator/connections")
	}
}
