package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The variables tables of the README (and of ../shared/DESIGN.md where
// that exists) state each default as config applies it: a table cannot
// drift from the code it documents.
func TestDocumentedDefaultsAreApplied(t *testing.T) {
	docs := map[string]string{"README.md": "../README.md", "DESIGN.md": "../../shared/DESIGN.md"}
	for name, path := range docs {
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) && name == "DESIGN.md" {
			continue // no shared folder beside this clone
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { checkDefaultsTable(t, string(b)) })
	}
}

func checkDefaultsTable(t *testing.T, doc string) {
	rows := varsTable(doc)
	if len(rows) < 20 {
		t.Fatalf("found %d rows of the variables table", len(rows))
	}
	base, err := loadWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		for _, v := range r.vars {
			seen[v.Name] = true
			checkDefault(t, v, r.def, base)
		}
	}
	for _, v := range Vars {
		if !seen[v.Name] {
			t.Errorf("%s is not in the table", v.Name)
		}
	}
}

// checkDefault: a literal default must be what config applies when the
// variable is unset; a word (none, off, empty, required...) must stand for
// a variable without a default.
func checkDefault(t *testing.T, v Var, def string, base *Config) {
	lit, isLit := strings.CutPrefix(def, "`")
	if !isLit {
		if v.Default != "" && !(v.Default == "false" && strings.HasPrefix(def, "off")) {
			t.Errorf("%s: the table says %q, config's default is %q", v.Name, def, v.Default)
		}
		return
	}
	lit, _, _ = strings.Cut(lit, "`")
	if strings.Contains(lit, "<") { // a description, not a value
		if lit != v.Default {
			t.Errorf("%s: the table says %q, config's default is %q", v.Name, lit, v.Default)
		}
		return
	}
	if got, err := loadWith(map[string]string{v.Name: lit}); err != nil || !reflect.DeepEqual(got, base) {
		t.Errorf("%s: the table's default %q is not what config applies (%q; %v)", v.Name, lit, v.Default, err)
	}
}

func loadWith(env map[string]string) (*Config, error) {
	return Load(nil, func(k string) (string, bool) { s, ok := env[k]; return s, ok }, 0)
}

type tableRow struct {
	vars []Var
	def  string // the default cell, trimmed
}

var backticked = regexp.MustCompile("`([^`]*)`")

// varsTable reads the rows of the "| variable | default | meaning |" table.
func varsTable(doc string) []tableRow {
	_, table, ok := strings.Cut(doc, "| variable | default | meaning |")
	if !ok {
		return nil
	}
	table, _, _ = strings.Cut(table, "\n\n")
	byName := map[string]Var{}
	for _, v := range Vars {
		byName[v.Name] = v
	}
	var rows []tableRow
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		r := tableRow{def: strings.TrimSpace(cells[1])}
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			if v, ok := byName[strings.TrimSuffix(m[1], "(_FILE)")]; ok {
				r.vars = append(r.vars, v)
			}
		}
		rows = append(rows, r)
	}
	return rows
}
