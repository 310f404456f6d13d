package emulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// tokenInfo is what an issued access token stands for. Tokens are opaque
// random strings: only this emulator instance can tell what they mean, which
// is enough for a test tenant and makes a "foreign" token simply unknown.
type tokenInfo struct {
	clientID string
	scopes   []string
	expires  time.Time
}

type tokenStore struct {
	mu     sync.Mutex
	tokens map[string]tokenInfo
}

func (s *tokenStore) issue(info tokenInfo, now time.Time) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[string]tokenInfo{}
	}
	// Drop expired tokens now and then so long runs do not grow forever.
	if len(s.tokens) > 10000 {
		for k, v := range s.tokens {
			if now.After(v.expires) {
				delete(s.tokens, k)
			}
		}
	}
	s.tokens[tok] = info
	return tok
}

func (s *tokenStore) lookup(tok string) (tokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[tok]
	return info, ok
}

func (e *Emulator) findClient(id string) (ClientCredentials, bool) {
	for _, c := range e.cfg.Clients {
		if c.ID == id {
			return c, true
		}
	}
	return ClientCredentials{}, false
}

// serveToken handles POST /oauth/token (client credentials; form or JSON;
// the secret in the body or as HTTP Basic, as x/oauth2 may send either).
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, st *reqState) {
	if !e.tokenRateLimit(w) {
		return
	}
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "Method not allowed, use POST")
		return
	}
	params, herr := tokenParams(r)
	if herr == nil {
		var client ClientCredentials
		client, herr = e.authorizeToken(params)
		if herr == nil {
			st.clientID = client.ID
			e.writeToken(w, client.ID, grantedScopes(client.Scopes, params["scope"]))
			return
		}
	}
	writeOAuthError(w, herr.status, herr.code, herr.message)
}

// tokenParams reads the token request's parameters from a form or JSON
// body, client credentials from Basic auth taking precedence.
func tokenParams(r *http.Request) (map[string]string, *httpErr) {
	params := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, &httpErr{http.StatusBadRequest, "invalid_request", "request body unreadable or over 1 MB"}
	}
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, &httpErr{http.StatusBadRequest, "invalid_request", "request body is not valid JSON"}
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				params[k] = s
			}
		}
	case "application/x-www-form-urlencoded", "":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, &httpErr{http.StatusBadRequest, "invalid_request", "request body is not a valid form"}
		}
		for k := range vals {
			params[k] = vals.Get(k)
		}
	default:
		return nil, &httpErr{http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded or application/json"}
	}
	if id, secret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		params["client_id"], params["client_secret"] = id, secret
	}
	return params, nil
}

// authorizeToken checks the grant, the client credentials and the audience
// in Auth0's order, with its errors.
func (e *Emulator) authorizeToken(params map[string]string) (ClientCredentials, *httpErr) {
	gt := params["grant_type"]
	if gt == "" {
		return ClientCredentials{}, &httpErr{http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type"}
	}
	if gt != "client_credentials" {
		return ClientCredentials{}, &httpErr{http.StatusForbidden, "unauthorized_client", "Grant type '" + gt + "' not allowed for the client."}
	}
	denied := &httpErr{http.StatusUnauthorized, "access_denied", "Unauthorized"}
	if params["client_id"] == "" {
		return ClientCredentials{}, denied
	}
	client, ok := e.findClient(params["client_id"])
	if !ok || subtle.ConstantTimeCompare([]byte(client.Secret), []byte(params["client_secret"])) != 1 {
		return ClientCredentials{}, denied
	}
	aud := params["audience"]
	if aud == "" {
		return ClientCredentials{}, &httpErr{http.StatusForbidden, "access_denied", "No audience parameter was provided, and no default audience has been configured"}
	}
	// The audience must name this tenant's Management API. Any host is
	// accepted (the emulator is reached under many names: 127.0.0.1,
	// localhost, a compose service name), the path must be /api/v2/.
	if u, err := url.Parse(aud); err != nil || strings.TrimSuffix(u.Path, "/") != "/api/v2" || u.Host == "" {
		return ClientCredentials{}, &httpErr{http.StatusForbidden, "access_denied", "Service not found: " + aud}
	}
	return client, nil
}

// grantedScopes: the client's scopes (nil = AllScopes), narrowed to the
// requested ones when the request names any.
func grantedScopes(scopes []string, requested string) []string {
	if scopes == nil {
		scopes = AllScopes
	}
	req := strings.Fields(requested)
	if len(req) == 0 {
		return scopes
	}
	var granted []string
	for _, s := range req {
		if slices.Contains(scopes, s) {
			granted = append(granted, s)
		}
	}
	return granted
}

func (e *Emulator) writeToken(w http.ResponseWriter, clientID string, scopes []string) {
	now := e.now()
	lifetime := e.cfg.TokenLifetime
	tok := e.tokens.issue(tokenInfo{clientID: clientID, scopes: slices.Clone(scopes), expires: now.Add(lifetime)}, now)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"expires_in":   int64(lifetime / time.Second),
		"scope":        strings.Join(scopes, " "),
		"token_type":   "Bearer",
	})
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// authenticate checks the bearer token and the scope the endpoint needs.
// It answers the error itself and returns false when the request must stop.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request, st *reqState, scope string) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		writeAPIError(w, http.StatusUnauthorized, "", "Missing authentication")
		return false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		writeAPIError(w, http.StatusUnauthorized, "", "Bad HTTP authentication header format")
		return false
	}
	info, ok := e.tokens.lookup(strings.TrimSpace(tok))
	if !ok {
		writeAPIError(w, http.StatusUnauthorized, "", "Invalid token")
		return false
	}
	if !e.now().Before(info.expires) {
		writeAPIError(w, http.StatusUnauthorized, "", "Expired token received for JSON Web Token validation")
		return false
	}
	st.clientID = info.clientID
	if scope != "" && !slices.Contains(info.scopes, scope) {
		writeAPIError(w, http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected any of: "+scope)
		return false
	}
	return true
}
