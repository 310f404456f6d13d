package consumer

import (
	"errors"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// builtinSet is the built-in command table, checked.
func builtinSet(t testing.TB) *commandSet {
	t.Helper()
	s, err := newCommandSet(Commands())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCommandTableChecked: New refuses a table it could not serve, naming
// the command.
func TestCommandTableChecked(t *testing.T) {
	ok := Commands()[0]
	for name, table := range map[string][]Command{
		"twice":      {ok, ok},
		"Bad Name":   {{Name: "Users.Block", Transports: TransportBoth, Handler: ok.Handler}},
		"no transp.": {{Name: "users.block", Handler: ok.Handler}},
		"no handler": {{Name: "users.block", Transports: TransportService}},
		"empty":      {},
	} {
		if _, err := newCommandSet(table); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: want ErrConfig, got %v", name, err)
		}
	}
}

// TestCommandTableDocumented keeps the documentation derived from the
// table: every command is in the package comment, in the README's
// request-reply table (auth0.svc.<name>) and, when durable, in the
// README's durable section; and the README names no command the table
// lacks.
func TestCommandTableDocumented(t *testing.T) {
	set := builtinSet(t)
	f, err := parser.ParseFile(token.NewFileSet(), "consumer.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	pkgDoc := f.Doc.Text()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	svcPart, durablePart, ok := strings.Cut(string(readme), "### Durable: ")
	if !ok {
		t.Fatal("README has no \"### Durable: \" section")
	}
	durablePart, _, _ = strings.Cut(durablePart, "\n\n```")
	for _, name := range set.names(TransportService) {
		last := name[strings.LastIndex(name, ".")+1:]
		if !strings.Contains(pkgDoc, last) {
			t.Errorf("the package comment does not name %s", name)
		}
		if !strings.Contains(svcPart, "| `auth0.svc."+name+"` |") {
			t.Errorf("README's request-reply table lacks auth0.svc.%s", name)
		}
	}
	for _, name := range set.names(TransportDurable) {
		if !strings.Contains(durablePart, "."+name+"`") {
			t.Errorf("README's durable section does not name %s", name)
		}
	}
	for _, line := range strings.Split(svcPart, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `auth0.svc."); ok {
			name, _, _ := strings.Cut(rest, "`")
			if set.on(TransportService, name) == nil {
				t.Errorf("README documents auth0.svc.%s, which the table does not serve", name)
			}
		}
	}
}
