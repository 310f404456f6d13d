package workercmd

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/internal/check"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/poller"
)

// runCheck is `check` (README "Quick start"): one line per item; exit 0 only if all pass.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.FromEnv(args, config.NeedFor("check"))
	if errors.Is(err, config.ErrHelp) {
		config.Usage(stdout)
		return nil
	}
	// Each dependency's failure is on its own line; go-redis would also
	// print its pool's dial failures between them.
	connect.SetRedisLogger(slog.New(slog.DiscardHandler))
	var deps check.Deps
	if err != nil {
		deps = check.Deps{ConfigErr: err}
	} else {
		client, err := newAuth0Client(cfg, nil, nil, nil)
		if err != nil {
			deps = check.Deps{ConfigErr: err}
		} else {
			deps = check.FromConfig(cfg, client, pollSources())
		}
	}
	if !check.Run(ctx, deps, stdout) {
		return &exitError{code: 1, err: errors.New("check failed")}
	}
	return nil
}

// newAuth0Client builds the Management API client from the configuration.
// obs, log and tp may be nil. It does no I/O.
func newAuth0Client(cfg *config.Config, obs auth0.Observer, log *slog.Logger, tp trace.TracerProvider) (*auth0.Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return auth0.New(auth0.Config{
		BaseURL: cfg.Auth0.BaseURL, ClientID: cfg.Auth0.ClientID, ClientSecret: cfg.Auth0.ClientSecret.Reveal(),
		Audience: cfg.Auth0.Audience, MaxRPS: cfg.Auth0.MaxRPS, UserAgent: "auth0-worker/" + version,
		Observer: obs, Logger: log, APICallAllow: cfg.Auth0.APICallAllowStrings(), TracerProvider: tp,
	})
}

// pollSources are the poller's selectable sources as the check sees them.
func pollSources() []check.Source {
	var out []check.Source
	for _, r := range poller.Selectable() {
		out = append(out, check.Source{Name: r.Name, EventsAPI: r.EventsAPI, Fallback: r.Fallback})
	}
	return out
}
