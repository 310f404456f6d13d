package check

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/rediskeys"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// FromConfig builds Deps from a loaded configuration, an Auth0 client
// (auth0.New with the same configuration; it does no I/O) and the poll
// sources the poller offers. When loading the configuration failed, pass
// Deps{ConfigErr: err} instead.
func FromConfig(c *config.Config, client Auth0, sources []Source) Deps {
	name := string(c.Poll.EffectiveSource())
	i := slices.IndexFunc(sources, func(s Source) bool { return s.Name == name })
	if i < 0 {
		return Deps{ConfigErr: fmt.Errorf("POLL_SOURCE=%s: the poller has no such source", name)}
	}
	return Deps{
		ConfigSummary: "tenant " + c.Auth0.BaseURL + ", subject prefix " + c.NATS.SubjectPrefix + ", POLL_SOURCE=" + name,
		Auth0:         client,
		PollSource:    sources[i],
		EventTypes:    c.Events.Types,
		Receiver:      receiverOf(c.Webhook),
		NATS:          connect.NATSFromConfig(c),
		Redis:         connect.RedisFromConfig(c),
		RedisKeys:     rediskeys.Keys{Prefix: c.Redis.KeyPrefix, Tenant: c.Auth0.TenantKey},
		Streams:       publisher.NamesFor(c.NATS.SubjectPrefix),
		StreamOptions: publisher.StreamOptions{Replicas: c.NATS.StreamReplicas, MaxAge: c.Events.MaxAge},
		Secrets: append([]string{c.Auth0.ClientSecret.Reveal(), c.NATS.Password.Reveal(), c.NATS.Token.Reveal(), c.Redis.Password.Reveal(), c.Redis.SentinelPassword.Reveal(),
			c.Webhook.BearerToken.Reveal(), c.Webhook.BasicPassword.Reveal()},
			urlSecrets(append(strings.Split(c.NATS.URL, ","), c.Redis.URL)...)...),
	}
}

// urlSecrets are the user-info parts of URLs (a NATS token may sit in the
// user part).
func urlSecrets(urls ...string) []string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		} else {
			out = append(out, u.User.Username())
		}
	}
	return out
}

func receiverOf(w config.Webhook) Receiver {
	r := Receiver{Addr: w.Addr, TLS: w.TLSCert != ""}
	switch {
	case w.BearerToken != "":
		r.Credentials = "bearer"
	case w.BasicUser != "" && w.BasicPassword != "":
		r.Credentials = "basic"
	}
	return r
}
