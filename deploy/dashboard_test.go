// Package deploy holds the operator's deployment files (Grafana dashboard)
// and the tests that keep them in step with the code.
package deploy

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/httpserver"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
)

var metricName = regexp.MustCompile(`\bauth0_worker_[a-zA-Z0-9_]+`)

// populatedMetrics returns the worker's metrics after every collector of
// internal/metrics has recorded a sample (a vector without a child exposes
// nothing). TestMetricsPageHasEveryFamily fails when a collector is added
// there and not here.
func populatedMetrics() *metrics.Metrics {
	m := metrics.New()
	m.Published("events", "created", []time.Time{time.Now().Add(-100 * time.Millisecond)})
	m.DedupeSkipped.Inc()
	m.ReconcileFound.Inc()
	m.PollCycles.WithLabelValues("search", "ok").Inc()
	m.LastPollSuccess.SetToCurrentTime()
	m.SourceActive.WithLabelValues("events").Set(1)
	m.Webhook(204)
	m.Request("users.search", 200)
	m.RateLimit(42)
	m.Commands.WithLabelValues("users.create", "svc", "ok").Inc()
	m.CommandDuration.WithLabelValues("users.create").Observe(0.1)
	m.DLQ.WithLabelValues("users.create").Inc()
	m.Leader.Set(1)
	m.LeaseChanges.Inc()
	m.CommandsDropped.Inc()
	m.EventsTruncated.Inc()
	m.UsersInvalid.WithLabelValues("bad_created_at").Inc()
	return m
}

// metricsPage serves m the way the worker does (internal/httpserver on a
// real port) and returns its /metrics page.
func metricsPage(t *testing.T, m *metrics.Metrics) []byte {
	t.Helper()
	srv := httpserver.New("127.0.0.1:0", m.Registry, nil, slog.New(slog.DiscardHandler))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d, %v", resp.StatusCode, err)
	}
	return body
}

// scrapeAll returns the metric names (samples, not families: histograms
// give _bucket, _sum and _count) of a fully populated /metrics page.
func scrapeAll(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, line := range strings.Split(string(metricsPage(t, populatedMetrics())), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		n := line
		if i := strings.IndexAny(n, "{ "); i >= 0 {
			n = n[:i]
		}
		names[n] = true
	}
	return names
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
			Query      any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// expressions returns every PromQL text of the dashboard: panel targets
// (rows' nested panels too) and template variable queries.
func expressions(t *testing.T, d dashboard) []string {
	t.Helper()
	var out []string
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has an empty expression", p.Title)
				}
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		out = append(out, v.Definition)
		if b, err := json.Marshal(v.Query); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

func TestDashboardUsesOnlyExposedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/auth0-worker.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("dashboard lacks title or uid")
	}
	exposed := scrapeAll(t)
	used := map[string]bool{}
	for _, e := range expressions(t, d) {
		for _, n := range metricName.FindAllString(e, -1) {
			used[n] = true
		}
	}
	if len(used) == 0 {
		t.Fatal("no auth0_worker_* metric found in the dashboard")
	}
	var missing []string
	for n := range used {
		if !exposed[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("dashboard uses metrics that /metrics does not expose: %v", missing)
	}
}

// Every metric (README "Operations") has a place on the dashboard.
func TestDashboardCoversDesignMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/auth0-worker.json")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, n := range []string{
		"auth0_worker_users_published_total", "auth0_worker_dedupe_skipped_total",
		"auth0_worker_reconcile_found_total", "auth0_worker_poll_cycles_total",
		"auth0_worker_last_poll_success_timestamp_seconds", "auth0_worker_last_publish_timestamp_seconds",
		"auth0_worker_event_lag_seconds", "auth0_worker_source_active",
		"auth0_worker_auth0_requests_total", "auth0_worker_auth0_ratelimit_remaining",
		"auth0_worker_commands_total", "auth0_worker_command_duration_seconds",
		"auth0_worker_dlq_total", "auth0_worker_leader", "auth0_worker_lease_changes_total",
	} {
		if !regexp.MustCompile(`\b` + n + `(_bucket|_sum|_count)?\b`).MatchString(text) {
			t.Errorf("dashboard has no panel for %s", n)
		}
	}
}

func TestAlertRulesUseOnlyExposedMetrics(t *testing.T) {
	rules := loadAlertRules(t)
	exposed := scrapeAll(t)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("rule without alert name or expr in group %s", g.Name)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: unbalanced parentheses", r.Alert)
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !exposed[m] {
					t.Errorf("%s uses %s, which /metrics does not expose", r.Alert, m)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}
