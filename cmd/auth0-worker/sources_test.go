package main

import (
	"slices"
	"testing"

	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/poller"
)

// config validates POLL_SOURCE at start without importing the poller: its
// list must be the poller registry's selectable sources, which the check
// and source_active also take their names from.
func TestPollSourcesAreThePollers(t *testing.T) {
	var reg, cfg []string
	for _, r := range poller.Selectable() {
		reg = append(reg, r.Name)
	}
	for _, s := range config.PollSources() {
		cfg = append(cfg, string(s))
	}
	slices.Sort(reg)
	slices.Sort(cfg)
	if !slices.Equal(reg, cfg) {
		t.Fatalf("config accepts POLL_SOURCE %v, the poller registers %v", cfg, reg)
	}
}
