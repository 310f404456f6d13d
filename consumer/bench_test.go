package consumer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// BenchmarkCommands300At10RPS sends 300 users.create requests at once to the
// micro service while the emulator allows 10 req/s (burst 10). The floor is
// (300-10)/10 = 29 s. It reports commands/s, the utilisation of the rate
// limit (successful Auth0 requests ÷ what the bucket allowed over the run)
// and the 429s Auth0 answered. COMMAND_TIMEOUT is raised to 60 s: with the
// default 30 s the last requests of such a burst would answer 504. The
// request queue holds the whole burst (QueueSize = 300): this measures the
// rate-limit use, not the flood refusal (BenchmarkFloodHandOff and
// TestE2ECommandFloodStaysBounded do).
//
//	go test ./consumer -run '^$' -bench Commands300 -benchtime 1x
func BenchmarkCommands300At10RPS(b *testing.B) {
	const n, rate, burst = 300, 10.0, 10
	for i := 0; i < b.N; i++ {
		e := newEnv(b, envConfig{
			emu:        emulator.Config{Knobs: emulator.Knobs{RateLimit: rate, RateBurst: burst}},
			maxRetries: 5,
			opts:       func(o *Options) { o.Timeout = 60 * time.Second; o.Concurrency = 8; o.QueueSize = n },
		})
		e.em.Emulator.ResetRequests()
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := 0
		start := time.Now()
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := e.tryRequest(CmdCreate, fmt.Sprintf(`{"connection":"%s","email":"b%d-%d@example.com","password":"Secret-123!"}`, conn, i, j), nil, 90*time.Second)
				if err != nil || r.status != 200 {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		ok, limited := 0, 0
		for _, rq := range e.em.Emulator.Requests() {
			switch {
			case rq.Path != "/api/v2/users":
			case rq.Status == 429:
				limited++
			case rq.Status < 300:
				ok++
			}
		}
		if failed > 0 || e.em.Emulator.UserCount() != n {
			b.Fatalf("%d failed commands, %d users", failed, e.em.Emulator.UserCount())
		}
		allowed := float64(burst) + rate*elapsed.Seconds()
		b.ReportMetric(elapsed.Seconds(), "s/300cmds")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "cmds/s")
		b.ReportMetric(100*float64(ok)/allowed, "%ratelimit-used")
		b.ReportMetric(float64(limited), "429s")
		e.stop()
	}
}

// blockingClient holds every GetUser until release is closed.
type blockingClient struct {
	Client
	release chan struct{}
}

func (c *blockingClient) GetUser(ctx context.Context, _ string) (*auth0.User, error) {
	select {
	case <-c.release:
	case <-ctx.Done():
	}
	return nil, ctx.Err()
}

// BenchmarkFloodHandOff is the cost of refusing one request when the queue
// is full (handler: stamp, copy, 503 overloaded), beside a raw NATS
// request-reply whose responder answers at once on the same connection.
//
//	go test ./consumer -run '^$' -bench FloodHandOff -benchmem
func BenchmarkFloodHandOff(b *testing.B) {
	bc := &blockingClient{release: make(chan struct{})}
	e := newEnv(b, envConfig{
		wrap: func(c Client) Client { bc.Client = c; return bc },
		opts: func(o *Options) { o.Concurrency = 1; o.QueueSize = 1; o.Timeout = time.Hour; o.DisableDurable = true },
	})
	defer close(bc.release)
	for i := 0; i < 2; i++ { // one running, one queued: the queue is full
		if err := e.nc.PublishRequest(e.c.ServiceSubject(CmdGet), e.nc.NewRespInbox(), []byte(`{"user_id":"auth0|hold"}`)); err != nil {
			b.Fatal(err)
		}
	}
	testwait.For(b, 10*time.Second, "the queue to fill", func() bool { return len(e.c.queue) == 1 })
	body := []byte(`{"user_id":"auth0|` + strings.Repeat("x", 1000) + `"}`)
	raw, err := e.nc.Subscribe("raw.echo", func(m *nats.Msg) { _ = m.Respond(m.Data[:0]) })
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Unsubscribe()
	b.Run("raw-request-reply", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.nc.Request("raw.echo", body, 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("overloaded-503", func(b *testing.B) {
		for b.Loop() {
			m, err := e.nc.Request(e.c.ServiceSubject(CmdGet), body, 5*time.Second)
			if err != nil || m.Header.Get(HeaderErrorCode) != "503" {
				b.Fatalf("%v %v", err, m)
			}
		}
	})
}
