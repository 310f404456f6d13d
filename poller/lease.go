package poller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

// ErrLeaseLost means another instance holds the lease now (a renewal or a
// cursor write found another token); the leader stops polling at once.
var ErrLeaseLost = errors.New("poller: lease lost")

// errLeaseExpired cancels leadership when LeaseTTL minus the margin passed
// since the last good renewal: Redis may have expired the key by now, so
// another instance may be active.
var errLeaseExpired = errors.New("poller: lease not renewed in time")

// renewScript extends the lease only while it still holds our token.
var renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)

// releaseScript deletes the lease only while it still holds our token.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// lease is the single-active-poller lock (README "Scale-out").
//
// Timing: the leader renews every ttl/3 and considers itself leader only
// until ttl-margin after the *start* of its last good renewal (Redis set the
// expiry no earlier than that), enforced by a local timer that cancels the
// leadership context whatever a Redis call is doing. Followers try every
// ttl/5, so after a crash the key expires within ttl and a follower takes it
// within ttl + ttl/5 < 1.5 × ttl.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
	log   *slog.Logger
	m     *metrics.Metrics

	leader atomic.Bool
}

func newLease(rdb redis.UniversalClient, key string, ttl time.Duration, log *slog.Logger, m *metrics.Metrics) *lease {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return &lease{rdb: rdb, key: key, token: hex.EncodeToString(b), ttl: ttl, log: log, m: m}
}

// margin is how long before the Redis expiry the leader gives up: time to
// stop its requests, plus clock-rate slack between hosts.
func (l *lease) margin() time.Duration { return l.ttl / 5 }

// callTimeout bounds every Redis call of the lease and the cursors, so a
// hanging Redis cannot block a renewal past the local deadline.
func (l *lease) callTimeout() time.Duration {
	return min(max(l.ttl/5, 100*time.Millisecond), 5*time.Second)
}

// tryAcquire takes the lease with SET NX PX. When the key already holds our
// token (a SET whose reply was lost, or a leadership that ended locally while
// Redis still had our key) it is renewed and counts as acquired.
func (l *lease) tryAcquire(ctx context.Context) (bool, error) {
	ok, err := withTimeout(ctx, l.callTimeout(), func(ctx context.Context) (bool, error) {
		return l.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
	})
	if err != nil || ok {
		return ok, err
	}
	return l.renew(ctx)
}

func (l *lease) renew(ctx context.Context) (bool, error) {
	n, err := withTimeout(ctx, l.callTimeout(), func(ctx context.Context) (int, error) {
		return renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	})
	return n == 1, err
}

// release deletes the lease if it is still ours (best effort, own timeout:
// it runs during shutdown when the caller's context is already done).
func (l *lease) release() {
	_, err := withTimeout(context.Background(), l.callTimeout(), func(ctx context.Context) (int, error) {
		return releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Int()
	})
	if err != nil {
		l.log.Warn("poller: lease release failed; it expires by itself", "err", err)
	}
}

// withTimeout runs one Redis call under a deadline of d. The client ends the
// call at that deadline itself (ContextTimeoutEnabled, set by
// internal/connect), so no goroutine is needed per call; leadership still
// ends on time because the leader's own timer does not wait for the call.
func withTimeout[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

// lead returns a context that stays alive while the lease is held and
// renews it in the background. acquiredAt is the time just before the
// acquiring call was sent. stop ends the renewals (it does not release).
func (l *lease) lead(parent context.Context, acquiredAt time.Time) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	expire := func() { cancel(errLeaseExpired) }
	timer := time.AfterFunc(time.Until(acquiredAt.Add(l.ttl-l.margin())), expire)
	l.setLeader(true)
	// Leadership ends the moment ctx does, even while a batch in flight
	// finishes (flushCtx): it no longer polls.
	var once sync.Once
	off := func() { once.Do(func() { l.setLeader(false) }) }
	context.AfterFunc(ctx, off)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick.Every(ctx, l.ttl/3, l.ttl/3, func() bool {
			start := time.Now()
			ok, err := l.renew(ctx)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					l.log.Warn("poller: lease renewal failed; retrying", "err", err)
				}
			case !ok:
				l.log.Warn("poller: lease taken by another instance; stopping")
				cancel(ErrLeaseLost)
				return false
			default:
				timer.Reset(time.Until(start.Add(l.ttl - l.margin())))
			}
			return true
		})
	}()
	return ctx, func() {
		cancel(context.Canceled)
		timer.Stop()
		off() // returns only once the flag is down, whoever ran it first
		<-done
	}
}

func (l *lease) setLeader(v bool) {
	if l.leader.Swap(v) == v {
		return
	}
	if l.m != nil {
		l.m.LeaseChanges.Inc()
		if v {
			l.m.Leader.Set(1)
		} else {
			l.m.Leader.Set(0)
		}
	}
}
