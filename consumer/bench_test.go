package consumer

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

// BenchmarkCommands300At10RPS sends 300 users.create requests at once to the
// micro service while the emulator allows 10 req/s (burst 10). The floor is
// (300-10)/10 = 29 s. It reports commands/s, the utilisation of the rate
// limit (successful Auth0 requests ÷ what the bucket allowed over the run)
// and the 429s Auth0 answered. COMMAND_TIMEOUT is raised to 60 s: with the
// default 30 s the last requests of such a burst would answer 504.
//
//	go test ./consumer -run '^$' -bench Commands300 -benchtime 1x
func BenchmarkCommands300At10RPS(b *testing.B) {
	const n, rate, burst = 300, 10.0, 10
	for i := 0; i < b.N; i++ {
		e := newEnv(b, envConfig{
			emu:        emulator.Config{Knobs: emulator.Knobs{RateLimit: rate, RateBurst: burst}},
			maxRetries: 5,
			opts:       func(o *Options) { o.Timeout = 60 * time.Second; o.Concurrency = 8 },
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
