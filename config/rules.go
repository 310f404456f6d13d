package config

import (
	"fmt"
	"strings"
)

// knownMethods are the HTTP methods an api.call rule may name.
var knownMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true}

// ParseAPIRules parses AUTH0_API_CALL_ALLOW: comma-separated "METHOD /glob"
// rules. Empty entries are skipped; an empty list disables api.call. The
// error names the offending rule.
func ParseAPIRules(s string) ([]APIRule, error) {
	var rules []APIRule
	for raw := range strings.SplitSeq(s, ",") {
		r := strings.TrimSpace(raw)
		if r == "" {
			continue
		}
		method, path, ok := strings.Cut(r, " ")
		path = strings.TrimSpace(path)
		switch {
		case !ok || path == "":
			return nil, fmt.Errorf("rule %q: want \"METHOD /path-glob\"", r)
		case strings.ToUpper(method) != method:
			return nil, fmt.Errorf("rule %q: method must be upper case (%s)", r, strings.ToUpper(method))
		case !knownMethods[method]:
			return nil, fmt.Errorf("rule %q: unknown method %q (GET, POST, PUT, PATCH, DELETE, HEAD)", r, method)
		case !strings.HasPrefix(path, "/"):
			return nil, fmt.Errorf("rule %q: path must start with / (relative to /api/v2)", r)
		case hasSpace(path):
			return nil, fmt.Errorf("rule %q: path contains whitespace", r)
		case strings.HasPrefix(path, "/api/v2/") || path == "/api/v2":
			return nil, fmt.Errorf("rule %q: paths are relative to /api/v2; drop the /api/v2 prefix", r)
		}
		rules = append(rules, APIRule{Method: method, Path: path})
	}
	return rules, nil
}
