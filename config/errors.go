package config

import (
	"errors"
	"strings"
)

// ErrHelp is returned by Load when the arguments ask for help (-h, --help).
// The caller prints Usage and exits 0.
var ErrHelp = errors.New("config: help requested")

// Error is a bad or missing configuration value. Its Error() is one line
// naming the variable, the problem and an example of a good value; cmd/ prints
// it and exits 2. It never contains a secret: for secret variables Problem
// says "is set" / "is empty" and never quotes the value.
type Error struct {
	// Var is the environment variable, e.g. "AUTH0_DOMAIN".
	Var string
	// Flag is the command-line flag the value came from ("--auth0-domain"),
	// empty when it came from the environment or a default.
	Flag string
	// Problem says what is wrong, quoting the value when it is not secret.
	Problem string
	// Example is a good value for Var (without the "VAR=" part).
	Example string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Var)
	if e.Flag != "" {
		b.WriteString(" (")
		b.WriteString(e.Flag)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(oneLine(e.Problem))
	if e.Example != "" {
		b.WriteString(" (example: ")
		b.WriteString(e.Var)
		b.WriteString("=")
		b.WriteString(oneLine(e.Example))
		b.WriteString(")")
	}
	return b.String()
}

// oneLine keeps the promise of a one-line message even when a quoted value or
// a wrapped OS error carries a newline.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
