package poller

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/internal/metrics"
	"github.com/auth0-worker/auth0-worker/publisher"
)

// ackAll acknowledges every publish without doing any: the pipeline's own
// cost alone.
type ackAll struct{}

func (ackAll) PublishUsers(_ context.Context, users []auth0.User) []PublishResult {
	out := make([]PublishResult, len(users))
	for i := range out {
		out[i].Acked = true
	}
	return out
}

func (ackAll) PublishDeadLetters(_ context.Context, dls []publisher.DeadLetter) []PublishResult {
	return make([]PublishResult, len(dls))
}

func (ackAll) LastCreatedAt(context.Context) (string, bool, error) { return "", false, nil }

// noneSeen finds nothing seen and marks nothing.
type noneSeen struct{}

func (noneSeen) Seen(_ context.Context, ids []string) ([]bool, error) {
	return make([]bool, len(ids)), nil
}
func (noneSeen) Mark(context.Context, []string) error { return nil }

// BenchmarkPipelineProcess: the pipeline's own CPU and allocations for a
// batch of 500 new users (publish and dedupe stubbed out).
func BenchmarkPipelineProcess(b *testing.B) {
	users := make([]auth0.User, 500)
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range users {
		id := fmt.Sprintf("auth0|bench%06d", i)
		at := base.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		users[i] = auth0.User{UserID: id, CreatedAt: at, Raw: []byte(`{"user_id":"` + id + `","created_at":"` + at + `"}`)}
	}
	pl := &pipeline{pub: ackAll{}, dd: noneSeen{}, m: metrics.New(), log: slog.New(slog.DiscardHandler)}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := pl.process(context.Background(), SourceEvents, users, 0); err != nil || res.done != len(users) {
			b.Fatal(res.done, err)
		}
	}
}
