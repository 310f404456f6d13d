package httpserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// NATSCheck is ready while nc is connected (a reconnecting or closed
// connection is not ready). It never does I/O: nats.go tracks the state.
func NATSCheck(nc *nats.Conn) Check {
	return func(context.Context) error {
		if nc == nil {
			return errors.New("not connected")
		}
		if st := nc.Status(); st != nats.CONNECTED {
			if err := nc.LastError(); err != nil {
				return fmt.Errorf("%s: %w", st, err)
			}
			return errors.New(st.String())
		}
		return nil
	}
}

// RedisCheck pings Redis. go-redis errors name the address, never the
// password.
func RedisCheck(rdb redis.UniversalClient) Check {
	return func(ctx context.Context) error {
		if rdb == nil {
			return errors.New("not connected")
		}
		return rdb.Ping(ctx).Err()
	}
}

// TokenSource is the part of *auth0.Client that Auth0Check uses.
type TokenSource interface {
	EnsureToken(ctx context.Context) error
}

// Auth0Check is ready once an access token has been obtained: EnsureToken
// answers from its cache while the token is valid (no request to Auth0), so
// /readyz does not spend the tenant's rate limit. Errors from the client
// never carry the secret or the token.
func Auth0Check(c TokenSource) Check {
	return func(ctx context.Context) error {
		if c == nil {
			return errors.New("no client")
		}
		return c.EnsureToken(ctx)
	}
}
