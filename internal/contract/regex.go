package contract

import (
	"regexp"
	"strings"

	"github.com/pb33f/jsonschema/v6"
)

// regexEngine compiles the spec's patterns with Go's RE2 and adds the one
// construct the Auth0 spec uses that RE2 lacks: a leading negative
// lookahead, as in ^(?:(?!org_))[a-z0-9]... . That form is checked exactly
// (the lookahead pattern must not match at the start); a lookahead
// anywhere else is dropped, which only makes the check more permissive.
func regexEngine(pattern string) (jsonschema.Regexp, error) {
	if re, err := regexp.Compile(pattern); err == nil {
		return re, nil
	}
	rest, neg := stripLookaheads(pattern)
	re, err := regexp.Compile(rest)
	if err != nil {
		return nil, err
	}
	out := &lookaheadRegexp{src: pattern, re: re}
	for _, n := range neg {
		nre, err := regexp.Compile("^(?:" + n + ")")
		if err != nil {
			return nil, err
		}
		out.notAtStart = append(out.notAtStart, nre)
	}
	return out, nil
}

// stripLookaheads removes every (?!...) group; those at the very start
// (after ^ and an optional (?: ) are returned to be checked separately.
func stripLookaheads(p string) (string, []string) {
	var neg []string
	var b strings.Builder
	for i := 0; i < len(p); {
		if strings.HasPrefix(p[i:], "(?!") {
			depth, j := 0, i
			for ; j < len(p); j++ {
				if p[j] == '\\' {
					j++
					continue
				}
				if p[j] == '(' {
					depth++
				} else if p[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			prefix := b.String()
			if prefix == "^" || prefix == "^(?:" {
				neg = append(neg, p[i+3:j])
			}
			i = j + 1
			continue
		}
		b.WriteByte(p[i])
		i++
	}
	return strings.ReplaceAll(b.String(), "(?:)", ""), neg
}

type lookaheadRegexp struct {
	src        string
	re         *regexp.Regexp
	notAtStart []*regexp.Regexp
}

func (r *lookaheadRegexp) String() string { return r.src }

func (r *lookaheadRegexp) MatchString(s string) bool {
	for _, n := range r.notAtStart {
		if n.MatchString(s) {
			return false
		}
	}
	return r.re.MatchString(s)
}
