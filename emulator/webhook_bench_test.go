package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWebhookDelivery: events appended to the log and POSTed by an
// event stream (4 in flight) to a receiver that answers 204 at once, beside
// the raw baseline: the same bodies POSTed by 4 goroutines with a plain
// http.Client. The emulator is the load generator of the worker's receiver
// benchmark, so it must not be the bottleneck there.
func BenchmarkWebhookDelivery(b *testing.B) {
	var got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(recv.Close)
	user := evUserJSON(1, time.Now())
	const inFlight = 4

	b.Run("raw", func(b *testing.B) {
		body := appendCloudEvent(nil, "user.created", []byte("evt_0123456789abcdef"), time.Now(), user, "est_0123456789abcdef")
		body = append(body, '}')
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = inFlight
		client := &http.Client{Transport: tr}
		b.Cleanup(tr.CloseIdleConnections)
		jobs := make(chan struct{})
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for range jobs {
					req, _ := http.NewRequest(http.MethodPost, recv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/cloudevents+json")
					req.Header.Set("Authorization", "Bearer tok")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		b.ReportAllocs()
		for b.Loop() {
			jobs <- struct{}{}
		}
		close(jobs)
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})

	b.Run("stream", func(b *testing.B) {
		e := New(Config{})
		b.Cleanup(e.Close)
		id, err := e.CreateEventStream(EventStreamConfig{Subscriptions: []string{"user.created"}, WebhookEndpoint: recv.URL,
			WebhookAuthorization: WebhookAuthorization{Method: WebhookAuthBearer, Token: "tok"}, Delivery: DeliveryKnobs{Concurrency: inFlight}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			e.events.append("user.created", user)
		}
		if failed, err := e.WaitDeliveries(context.Background(), id); err != nil || failed != 0 {
			b.Fatalf("failed %d: %v", failed, err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
