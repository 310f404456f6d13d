package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
)

// Creator signs users up in the emulator at a steady pace in the background.
type Creator struct {
	mu   sync.Mutex
	ids  []string
	done chan struct{}
}

// CreateUsers signs up n users ("<prefix>-<i>@example.com") over about
// `over`, a batch every 50ms. Wait returns every id.
func CreateUsers(t *testing.T, emu *emulator.Emulator, prefix string, n int, over time.Duration) *Creator {
	c := &Creator{done: make(chan struct{})}
	t.Cleanup(func() { <-c.done })
	const tick = 50 * time.Millisecond
	batches := max(int(over/tick), 1)
	go func() {
		defer close(c.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		made := 0
		for b := 0; b < batches && made < n; b++ {
			k := (n - made) / (batches - b)
			if b == batches-1 {
				k = n - made
			}
			users := make([]emulator.SeedUser, k)
			for i := range users {
				users[i] = emulator.SeedUser{Email: fmt.Sprintf("%s-%d@example.com", prefix, made+i)}
			}
			ids, err := emu.CreateUsers(users)
			if err != nil {
				t.Errorf("create users: %v", err)
				return
			}
			made += k
			c.mu.Lock()
			c.ids = append(c.ids, ids...)
			c.mu.Unlock()
			<-tk.C
		}
	}()
	return c
}

// Count is how many users exist so far.
func (c *Creator) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// Done is closed after the last batch.
func (c *Creator) Done() <-chan struct{} { return c.done }

// IDs is every id made so far, in creation order.
func (c *Creator) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

// Wait waits for the last batch and returns every id.
func (c *Creator) Wait() []string {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}
