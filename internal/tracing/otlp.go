package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/auth0-worker/auth0-worker/internal/retryafter"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

// exporter posts spans to an OTLP/HTTP endpoint in binary protobuf. It
// stands in for otlptracehttp, whose generated collector package links gRPC
// and grpc-gateway into the binary (26.7 MB against 15.4 MB stripped, see
// BENCHMARKS.md); TestExporterSendsWhatOTLPTraceHTTPSends keeps its
// requests equal to that exporter's.
type exporter struct {
	cfg       exportConfig
	client    *http.Client
	userAgent string
	// retry is the wait before the first retry, doubling up to 30 times
	// as much; the export timeout ends the retries.
	retry time.Duration
}

// firstRetry is exporter.retry's default (otlptracehttp waits 5s, which
// leaves a single retry within the default 10s timeout).
const firstRetry = time.Second

func newExporter(cfg exportConfig, userAgent string) *exporter {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.tls != nil {
		t.TLSClientConfig = cfg.tls
	}
	return &exporter{cfg: cfg, client: &http.Client{Transport: t}, userAgent: userAgent, retry: firstRetry}
}

// ExportSpans sends spans in one request, retried while the endpoint says
// it is busy or cannot be reached, within the export timeout.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body := encodeRequest(spans)
	if e.cfg.gzip {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		_, _ = w.Write(body) // a bytes.Buffer does not fail
		_ = w.Close()
		body = z.Bytes()
	}
	if e.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.timeout)
		defer cancel()
	}
	b := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithInitialInterval(e.retry),
		backoff.WithMaxInterval(30*e.retry), backoff.WithMaxElapsedTime(0)), ctx) // ctx ends it
	for {
		err := e.post(ctx, body)
		var busy *busyError
		if !errors.As(err, &busy) {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return err
		}
		if !tick.Sleep(ctx, max(wait, busy.after)) {
			return err
		}
	}
}

// Shutdown closes idle connections; the SDK exports nothing after it.
func (e *exporter) Shutdown(context.Context) error {
	e.client.CloseIdleConnections()
	return nil
}

// busyError is a failure worth retrying: unreachable, or 429/502/503/504
// (with the wait the endpoint asked for in Retry-After, if any).
type busyError struct {
	err   error
	after time.Duration
}

func (e *busyError) Error() string { return e.err.Error() }
func (e *busyError) Unwrap() error { return e.err }

func (e *exporter) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("tracing: OTLP export: %w", err)
	}
	req.Header.Set("User-Agent", e.userAgent) // OTEL_EXPORTER_OTLP_HEADERS may replace it
	for k, v := range e.cfg.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if e.cfg.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token in its query
		}
		err = fmt.Errorf("tracing: OTLP export: %w", err)
		if ctx.Err() == nil && unreachable(err) {
			return &busyError{err: err} // the collector may be restarting
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil // a partial success (rejected spans) is not retried either
	case code == http.StatusTooManyRequests || code == http.StatusBadGateway ||
		code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout:
		return &busyError{err: fmt.Errorf("tracing: OTLP endpoint answered %s", resp.Status), after: retryAfter(resp.Header.Get("Retry-After"))}
	default:
		return fmt.Errorf("tracing: OTLP endpoint answered %s", resp.Status)
	}
}

// unreachable reports whether err means the endpoint could not be reached
// (no connection, or it dropped before answering), which a later try may
// not meet; a refused certificate or a server that speaks no HTTP is
// refused again on every try.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var timeout net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &timeout) && timeout.Timeout())
}

// retryAfter is the wait a Retry-After header asks for (0 when absent or
// unreadable).
func retryAfter(v string) time.Duration {
	now := time.Now()
	t, ok := retryafter.At(v, now)
	if !ok {
		return 0
	}
	return max(t.Sub(now), 0)
}
