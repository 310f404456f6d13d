package auth0

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// maxAPIPath bounds an api.call path.
const maxAPIPath = 2048

// CheckAPIPath applies the api.call path rules (README "Security"): p must be a
// plain path relative to /api/v2 ("/users", "/users/auth0%7C1/roles"),
// optionally followed by "?query". Refused, with an error wrapping
// ErrInvalidPath that names the problem: an empty path or one not starting
// with "/", a scheme or host ("https://h/x", "//h/x"), "//" anywhere, "." or
// ".." segments (also percent-encoded, at any depth of encoding), a
// backslash, NUL or any control character, raw spaces or non-ASCII bytes,
// a fragment, and malformed percent-encoding.
func CheckAPIPath(p string) error {
	pathPart, query, _ := strings.Cut(p, "?")
	if err := checkPath(pathPart); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidPath, p, err)
	}
	if err := checkQuery(query); err != nil {
		return fmt.Errorf("%w: %q: %s", ErrInvalidPath, p, err)
	}
	return nil
}

type pathProblem string

func (p pathProblem) Error() string { return string(p) }

func checkPath(p string) error {
	if p == "" {
		return pathProblem("path is empty")
	}
	if len(p) > maxAPIPath {
		return pathProblem(fmt.Sprintf("path is longer than %d bytes", maxAPIPath))
	}
	if p[0] != '/' {
		if i := strings.IndexByte(p, ':'); i > 0 && !strings.Contains(p[:i], "/") {
			return pathProblem("has a URL scheme; give a path relative to /api/v2 such as /users")
		}
		return pathProblem("must start with / (relative to /api/v2, e.g. /users)")
	}
	// Check the path as given, then each layer of percent-decoding: a
	// server or proxy that decodes once more must not see ".." either.
	layer := p
	for depth := 0; depth < 4; depth++ {
		if err := checkLayer(layer, depth > 0); err != nil {
			return err
		}
		if !strings.Contains(layer, "%") {
			return nil
		}
		dec, err := url.PathUnescape(layer)
		if err != nil {
			if depth == 0 {
				return pathProblem("malformed percent-encoding")
			}
			return nil // a deeper layer that is not an encoding: plain text
		}
		if dec == layer {
			return nil
		}
		layer = dec
	}
	return pathProblem("too many layers of percent-encoding")
}

func checkLayer(s string, decoded bool) error {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == 0:
			return pathProblem("contains NUL")
		case b == '\r' || b == '\n':
			return pathProblem("contains CR or LF")
		case b < 0x20 || b == 0x7f:
			return pathProblem(fmt.Sprintf("contains control character 0x%02x", b))
		case b == '\\':
			return pathProblem("contains a backslash")
		case b == '#':
			return pathProblem("contains a fragment (#)")
		case !decoded && b == ' ':
			return pathProblem("contains a space (percent-encode it as %20)")
		case !decoded && b >= 0x80:
			return pathProblem("contains non-ASCII bytes (percent-encode them)")
		}
	}
	if strings.Contains(s, "//") {
		return pathProblem("contains // (a host or an empty segment)")
	}
	if strings.Contains(s, "://") {
		return pathProblem("contains a URL scheme")
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return pathProblem("contains a . or .. segment")
		}
	}
	return nil
}

func checkQuery(q string) error {
	for i := 0; i < len(q); i++ {
		b := q[i]
		if b < 0x20 || b == 0x7f {
			return pathProblem(fmt.Sprintf("query contains control character 0x%02x", b))
		}
		if b == '#' {
			return pathProblem("contains a fragment (#)")
		}
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return pathProblem("malformed query: " + err.Error())
	}
	for k, vs := range v {
		for _, s := range append([]string{k}, vs...) {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] == 0x7f {
					return pathProblem(fmt.Sprintf("query contains control character 0x%02x", s[i]))
				}
			}
		}
	}
	return nil
}

// allowRule is one AUTH0_API_CALL_ALLOW entry: "METHOD /glob".
type allowRule struct {
	method string
	glob   string
}

func parseAllowRules(rules []string) ([]allowRule, error) {
	var out []allowRule
	for _, r := range rules {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		f := strings.Fields(r)
		if len(f) != 2 {
			return nil, fmt.Errorf("auth0: Config.APICallAllow rule %q must be \"METHOD /path-glob\" (e.g. \"GET /users*\")", r)
		}
		m, g := f[0], f[1]
		if m != strings.ToUpper(m) || !validMethod(m) {
			return nil, fmt.Errorf("auth0: Config.APICallAllow rule %q: method %q must be one of GET POST PUT PATCH DELETE in upper case (e.g. \"GET /users*\")", r, m)
		}
		if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "*") {
			return nil, fmt.Errorf("auth0: Config.APICallAllow rule %q: path glob must start with / (relative to /api/v2, e.g. \"GET /users*\")", r)
		}
		out = append(out, allowRule{method: m, glob: g})
	}
	return out, nil
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
		return true
	}
	return false
}

// allowed reports whether method and the cleaned, decoded path match a rule.
func (c *Client) allowed(method, cleanPath string) bool {
	for _, r := range c.allow {
		if r.method == method && globMatch(r.glob, cleanPath) {
			return true
		}
	}
	return false
}

// globMatch: '*' matches any run of characters, '/' included; everything
// else matches itself.
func globMatch(glob, s string) bool {
	// Iterative wildcard matching with backtracking to the last star.
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case gi < len(glob) && glob[gi] == s[si]:
			gi++
			si++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

// cleanAPIPath is the decoded, cleaned path the allowlist matches.
func cleanAPIPath(escaped string) string {
	dec, err := url.PathUnescape(escaped)
	if err != nil {
		dec = escaped
	}
	return path.Clean(dec)
}
