package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/auth0-worker/auth0-worker/internal/metrics"
)

// The checks Prometheus users run on rules and exporters, with Prometheus's
// own promtool (Debian package "prometheus"; .ci/run installs it).

// promtool runs promtool with stdin and returns its combined output and
// whether it exited 0.
func promtool(t *testing.T, stdin []byte, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (apt-get install -y prometheus; .ci/run installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, exited := err.(*exec.ExitError); !exited {
			t.Fatalf("promtool %s: %v", strings.Join(args, " "), err)
		}
	}
	return string(out), err == nil
}

type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlertRules(t *testing.T) alertRules {
	t.Helper()
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return rules
}

func (r alertRules) names() []string {
	var out []string
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			out = append(out, rule.Alert)
		}
	}
	return out
}

func TestPromtoolCheckRules(t *testing.T) {
	out, ok := promtool(t, nil, "check", "rules", "prometheus/alerts.yml")
	want := fmt.Sprintf("SUCCESS: %d rules found", len(loadAlertRules(t).names()))
	if !ok || !strings.Contains(out, want) {
		t.Fatalf("promtool check rules (want %q):\n%s", want, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	out, ok := promtool(t, nil, "test", "rules", "prometheus/alerts_test.yml")
	if !ok || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// promtool accepts a test of an alert name that does not exist (nothing
// fires, as expected), so this keeps alerts_test.yml honest: every alert of
// alerts.yml is shown both firing and not firing, and no test names an
// alert that is not there.
func TestAlertTestsCoverEveryAlert(t *testing.T) {
	raw, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name  string `yaml:"name"`
			Evals []struct {
				Alert     string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tests); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	if len(tests.RuleFiles) != 1 || tests.RuleFiles[0] != "alerts.yml" {
		t.Errorf("alerts_test.yml rule_files = %v, want [alerts.yml]", tests.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, e := range tc.Evals {
			if len(e.ExpAlerts) > 0 {
				fires[e.Alert] = true
			} else {
				quiet[e.Alert] = true
			}
		}
	}
	known := map[string]bool{}
	for _, a := range loadAlertRules(t).names() {
		known[a] = true
		if !fires[a] {
			t.Errorf("alerts_test.yml never shows %s firing", a)
		}
		if !quiet[a] {
			t.Errorf("alerts_test.yml never shows %s not firing", a)
		}
	}
	for a := range fires {
		if !known[a] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", a)
		}
	}
	for a := range quiet {
		if !known[a] {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", a)
		}
	}
}

// TestPromtoolCheckMetrics lints the worker's /metrics page, every family
// populated, with promtool check metrics: README "Operations" asks that it find
// nothing to complain about.
func TestPromtoolCheckMetrics(t *testing.T) {
	page := metricsPage(t, populatedMetrics())
	if out, ok := promtool(t, page, "check", "metrics"); !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("promtool check metrics on /metrics:\n%s", out)
	}
	// The same promtool refuses a page with a badly named counter, so the
	// empty answer above means something.
	bad := []byte("# HELP auth0_worker_bad A counter without _total.\n# TYPE auth0_worker_bad counter\nauth0_worker_bad 1\n")
	if out, ok := promtool(t, bad, "check", "metrics"); ok || !strings.Contains(out, "_total") {
		t.Fatalf("promtool check metrics accepted a counter without _total (ok=%v):\n%s", ok, out)
	}
}

// TestMetricsPageHasEveryFamily: populatedMetrics (used by the promtool and
// dashboard tests) records a sample in every collector of internal/metrics,
// so a collector added there without a sample here fails instead of escaping
// the checks.
func TestMetricsPageHasEveryFamily(t *testing.T) {
	collectorType := reflect.TypeFor[prometheus.Collector]()
	v := reflect.ValueOf(*metrics.New())
	want := 0
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name != "Registry" && f.Type.Implements(collectorType) {
			want++
		}
	}
	families := regexp.MustCompile(`(?m)^# TYPE (auth0_worker_\w+) `).FindAllSubmatch(metricsPage(t, populatedMetrics()), -1)
	var got []string
	for _, f := range families {
		got = append(got, string(f[1]))
	}
	sort.Strings(got)
	if len(got) != want {
		t.Fatalf("/metrics shows %d auth0_worker_ families, internal/metrics.Metrics has %d collectors: populate the missing ones in populatedMetrics (%v)", len(got), want, got)
	}
}
