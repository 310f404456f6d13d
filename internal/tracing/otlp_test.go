package tracing

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP endpoint that keeps every request.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []collected
	answer   func(n int) int // status for the n-th request (from 1); 200 when nil
}

type collected struct {
	path   string
	header http.Header
	body   []byte // gunzipped
}

func newCollector(t *testing.T, overTLS bool, answer func(n int) int) *collector {
	c := &collector{answer: answer}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			z, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = z
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests = append(c.requests, collected{r.URL.Path, r.Header.Clone(), b})
		n := len(c.requests)
		c.mu.Unlock()
		status := http.StatusOK
		if c.answer != nil {
			status = c.answer(n)
		}
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status)
	})
	c.Server = httptest.NewUnstartedServer(h)
	c.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes a test makes fail on purpose
	if overTLS {
		c.StartTLS()
	} else {
		c.Start()
	}
	t.Cleanup(c.Close)
	return c
}

func (c *collector) got() []collected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

func decode(t *testing.T, body []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		t.Fatalf("not an ExportTraceServiceRequest: %v", err)
	}
	// otlptracehttp orders resources by map iteration; compare them sorted.
	slices.SortFunc(req.ResourceSpans, func(a, b *tracepb.ResourceSpans) int {
		return cmp.Compare(prototext.Format(a), prototext.Format(b))
	})
	return req
}

// spanFixtures holds every kind of attribute value, parent, status, event
// and link, under two resources and three instrumentation scopes.
func spanFixtures() []sdktrace.ReadOnlySpan {
	resA := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "auth0-worker"), attribute.Int("replica", 2))
	resB := resource.NewSchemaless(attribute.String("service.name", "other"))
	scopeA := instrumentation.Scope{Name: "github.com/auth0-worker/auth0-worker/consumer", Version: "v1",
		SchemaURL: "https://opentelemetry.io/schemas/1.26.0", Attributes: attribute.NewSet(attribute.Bool("scoped", true))}
	scopeB := instrumentation.Scope{Name: "github.com/auth0-worker/auth0-worker/auth0"}
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	ts, err := trace.ParseTraceState("vendor=opaque,other=x")
	if err != nil {
		panic(err)
	}
	sc := func(span byte, remote bool, flags trace.TraceFlags) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{span, 1, 2, 3, 4, 5, 6, 7},
			TraceFlags: flags, TraceState: ts, Remote: remote})
	}
	start := time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.UTC)
	everyValue := []attribute.KeyValue{
		attribute.Bool("bool", true), attribute.Bool("false", false),
		attribute.Int64("int", -42), attribute.Int("zero", 0),
		attribute.Float64("float", 3.25), attribute.Float64("float0", 0),
		attribute.String("string", "héllo"), attribute.String("empty", ""),
		attribute.BoolSlice("bools", []bool{true, false}),
		attribute.Int64Slice("ints", []int64{1, -2, 1 << 40}),
		attribute.Float64Slice("floats", []float64{0.5, -1}),
		attribute.StringSlice("strings", []string{"a", ""}),
		attribute.StringSlice("none", nil),
		{Key: "bytes", Value: attribute.ByteSliceValue([]byte{0, 1, 0xff})},
		{Key: "slice", Value: attribute.SliceValue(attribute.StringValue("x"), attribute.IntValue(7), attribute.SliceValue())},
		{Key: "map", Value: attribute.MapValue(attribute.String("k", "v"), attribute.Bool("b", false))},
		{Key: "unset"},
	}
	stubs := tracetest.SpanStubs{
		{
			Name: "auth0-worker command users.create", SpanContext: sc(1, false, trace.FlagsSampled),
			Parent: sc(9, true, trace.FlagsSampled), SpanKind: trace.SpanKindConsumer,
			StartTime: start, EndTime: start.Add(1500 * time.Millisecond), Attributes: everyValue,
			Events: []sdktrace.Event{
				{Name: "retry", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("attempt", 2)}, DroppedAttributeCount: 1},
				{Name: "bare", Time: start.Add(2 * time.Millisecond)},
			},
			Links: []sdktrace.Link{
				{SpanContext: sc(7, true, 0), Attributes: []attribute.KeyValue{attribute.String("why", "batch")}, DroppedAttributeCount: 3},
				{SpanContext: sc(8, false, trace.FlagsSampled)},
			},
			Status:            sdktrace.Status{Code: codes.Error, Description: "auth0: 429 too_many_requests"},
			DroppedAttributes: 2, DroppedEvents: 5, DroppedLinks: 1,
			Resource: resA, InstrumentationScope: scopeA,
		},
		{
			Name: "POST /api/v2/users", SpanContext: sc(2, false, trace.FlagsSampled), Parent: sc(1, false, trace.FlagsSampled),
			SpanKind: trace.SpanKindClient, StartTime: start, EndTime: start.Add(time.Second),
			Status: sdktrace.Status{Code: codes.Ok}, Resource: resA, InstrumentationScope: scopeB,
		},
		{Name: "second in scope A", SpanContext: sc(3, false, 0), SpanKind: trace.SpanKindServer, StartTime: start, EndTime: start, Resource: resA, InstrumentationScope: scopeA},
		{Name: "no scope", SpanContext: sc(4, false, 0), SpanKind: trace.SpanKindProducer, Resource: resA},
		{Name: "other resource", SpanContext: sc(5, false, 0), SpanKind: trace.SpanKindInternal, Resource: resB, InstrumentationScope: scopeB},
	}
	return stubs.Snapshots()
}

// The hand-written exporter sends, byte for byte after decoding, the
// request otlptracehttp (the SDK's exporter, linked only into this test)
// sends for the same spans.
func TestExporterSendsWhatOTLPTraceHTTPSends(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_COMPRESSION"} {
		t.Setenv(k, "")
	}
	spans := spanFixtures()
	ctx := context.Background()

	theirs := newCollector(t, false, nil)
	ref, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(theirs.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.ExportSpans(ctx, spans); err != nil {
		t.Fatalf("otlptracehttp: %v", err)
	}
	ours := newCollector(t, false, nil)
	exp := newExporter(exportConfig{url: ours.URL + "/v1/traces", headers: http.Header{}, timeout: 5 * time.Second}, "auth0-worker/test")
	if err := exp.ExportSpans(ctx, spans); err != nil {
		t.Fatalf("exporter: %v", err)
	}

	want, got := theirs.got(), ours.got()
	if len(want) != 1 || len(got) != 1 {
		t.Fatalf("requests: otlptracehttp %d, ours %d; want 1 each", len(want), len(got))
	}
	if got[0].path != "/v1/traces" || got[0].header.Get("Content-Type") != want[0].header.Get("Content-Type") {
		t.Fatalf("posted to %s as %q; otlptracehttp: %s as %q", got[0].path, got[0].header.Get("Content-Type"), want[0].path, want[0].header.Get("Content-Type"))
	}
	w, g := decode(t, want[0].body), decode(t, got[0].body)
	if len(w.ResourceSpans) != 2 {
		t.Fatalf("otlptracehttp sent %d resources; the fixture has 2", len(w.ResourceSpans))
	}
	if !proto.Equal(w, g) {
		t.Fatalf("requests differ\notlptracehttp:\n%s\nours:\n%s", prototext.Format(w), prototext.Format(g))
	}
}

func TestExporterRetriesABusyEndpoint(t *testing.T) {
	c := newCollector(t, false, func(n int) int {
		return []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusOK}[min(n, 3)-1]
	})
	exp := newExporter(exportConfig{url: c.URL, headers: http.Header{}, timeout: 5 * time.Second}, "test")
	exp.retry = time.Millisecond
	if err := exp.ExportSpans(context.Background(), spanFixtures()); err != nil {
		t.Fatalf("export: %v", err)
	}
	if n := len(c.got()); n != 3 {
		t.Fatalf("%d requests, want 3 (503, 429, then 200)", n)
	}
}

func TestExporterGivesUpOnARefusal(t *testing.T) {
	c := newCollector(t, false, func(int) int { return http.StatusBadRequest })
	exp := newExporter(exportConfig{url: c.URL, headers: http.Header{"Api-Key": {"s3cret"}}, timeout: 5 * time.Second}, "test")
	exp.retry = time.Millisecond
	err := exp.ExportSpans(context.Background(), spanFixtures())
	if err == nil || !strings.Contains(err.Error(), "400") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("export = %v; want the 400, without the header's value", err)
	}
	if n := len(c.got()); n != 1 {
		t.Fatalf("%d requests, want 1 (a 400 is not retried)", n)
	}
}

// The variables a collector behind TLS with an API key needs: a
// per-signal endpoint used as written, headers (percent-encoded), gzip and
// the CA to trust.
func TestExporterFromEnvOverTLSWithHeadersAndGzip(t *testing.T) {
	c := newCollector(t, true, nil)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://ignored.invalid:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.URL + "/custom/traces",
		"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=s%3Dcret, x-team = core,User-Agent=gateway-test",
		"OTEL_EXPORTER_OTLP_COMPRESSION":     "gzip",
		"OTEL_EXPORTER_OTLP_TIMEOUT":         "5000",
	}
	var untrusted *tls.CertificateVerificationError
	if err := exportFrom(env).ExportSpans(context.Background(), spanFixtures()[:1]); !errors.As(err, &untrusted) {
		t.Fatalf("export without the CA = %v; want a certificate verification error", err)
	}
	env["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"] = ca
	if err := exportFrom(env).ExportSpans(context.Background(), spanFixtures()[:1]); err != nil {
		t.Fatalf("export with the CA: %v", err)
	}
	got := c.got()
	if len(got) != 1 {
		t.Fatalf("%d requests reached the collector, want 1", len(got))
	}
	r := got[0]
	if r.path != "/custom/traces" || r.header.Get("Api-Key") != "s=cret" || r.header.Get("X-Team") != "core" || r.header.Get("User-Agent") != "gateway-test" || r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("request to %s with %v", r.path, r.header)
	}
	if n := len(decode(t, r.body).ResourceSpans); n != 1 {
		t.Fatalf("%d resources in the gunzipped body, want 1", n)
	}
}

func exportFrom(env map[string]string) interface {
	ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error
} {
	cfg, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return failing{err}
	}
	return newExporter(cfg, "test")
}

type failing struct{ err error }

func (f failing) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return f.err }

func TestConfigFromEnv(t *testing.T) {
	okCases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw.example/otlp/"}, "https://gw.example/otlp/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"}, "http://collector:4318/"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:1"}, "http://c:4318/x"},
	}
	for _, c := range okCases {
		cfg, err := configFromEnv(func(k string) string { return c.env[k] })
		if err != nil || cfg.url != c.want || cfg.timeout != DefaultExportTimeout || cfg.gzip || cfg.tls != nil {
			t.Errorf("%v: url %q timeout %v gzip %v tls %v err %v; want %q and defaults", c.env, cfg.url, cfg.timeout, cfg.gzip, cfg.tls, err, c.want)
		}
	}
	const ep = "OTEL_EXPORTER_OTLP_ENDPOINT"
	bad := []struct {
		env      map[string]string
		variable string
	}{
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Basic czNjcmV0"}, "OTEL_EXPORTER_OTLP_HEADERS"}, // base64 of s3cret, in the name
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret%0D%0AX-Other: 1"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "10000000000000"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{ep: "collector:4318"}, ep},
		{map[string]string{ep: "ftp://user:s3cret@collector"}, ep},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret,s3cret"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=s3cret%zz"}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/some/cert.pem"}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
	}
	cfg, err := configFromEnv(func(k string) string {
		return map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_HEADERS": "a=1,,b=x%20y,", "OTEL_EXPORTER_OTLP_TIMEOUT": "0"}[k]
	})
	if err != nil || cfg.headers.Get("A") != "1" || cfg.headers.Get("B") != "x y" || len(cfg.headers) != 2 || cfg.timeout != 0 {
		t.Errorf("empty header entries and timeout 0: headers %v timeout %v err %v; want a and b, no limit", cfg.headers, cfg.timeout, err)
	}
	if _, err := configFromEnv(func(k string) string {
		return map[string]string{ep: "http://c", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}[k]
	}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing CA file: %v; want it to wrap fs.ErrNotExist", err)
	}
	if Enabled(func(k string) string { return map[string]string{ep: " "}[k] }) {
		t.Error("a blank endpoint switches tracing on")
	}
	for _, c := range bad {
		_, err := configFromEnv(func(k string) string { return c.env[k] })
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.variable) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "czNjcmV0") {
			t.Errorf("%v: error %v; want ErrConfig naming %s, without the secret", c.env, err, c.variable)
		}
	}
}

// Setup refuses a bad variable at start rather than dropping every span.
func TestSetupRefusesABadSetting(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli")
	if _, _, err := Setup(slog.New(slog.DiscardHandler), "auth0-worker", "test"); !errors.Is(err, ErrConfig) {
		t.Fatalf("Setup = %v; want ErrConfig", err)
	}
}

// attempts counts the requests an exporter's client makes, reached or not.
type attempts struct {
	rt http.RoundTripper
	n  atomic.Int32
}

func (a *attempts) RoundTrip(r *http.Request) (*http.Response, error) {
	a.n.Add(1)
	return a.rt.RoundTrip(r)
}

func countAttempts(e *exporter) *attempts {
	a := &attempts{rt: e.client.Transport}
	e.client.Transport = a
	return a
}

// An endpoint that cannot be reached is tried again until the timeout; one
// that answers in a way no retry changes (here HTTPS to an HTTP server) is
// tried once.
func TestExporterRetriesOnlyWhatMayChange(t *testing.T) {
	c := newCollector(t, false, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/v1/traces"
	l.Close()
	for _, tc := range []struct {
		url      string
		retried  bool
		whatWhen string
	}{
		{closed, true, "nothing listens"},
		{strings.Replace(c.URL, "http://", "https://", 1), false, "HTTPS meets an HTTP server"},
	} {
		exp := newExporter(exportConfig{url: tc.url + "?token=s3cret", headers: http.Header{}, timeout: 300 * time.Millisecond}, "test")
		exp.retry = time.Millisecond
		a := countAttempts(exp)
		err := exp.ExportSpans(context.Background(), spanFixtures()[:1])
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: export = %v; want an error without the URL's token", tc.whatWhen, err)
		}
		if n := a.n.Load(); (n > 1) != tc.retried {
			t.Errorf("%s: %d attempts; retried should be %v", tc.whatWhen, n, tc.retried)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	if d := retryAfter("7"); d != 7*time.Second {
		t.Errorf("Retry-After: 7 → %v", d)
	}
	if d := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d < 59*time.Minute || d > time.Hour {
		t.Errorf("Retry-After: a date an hour ahead → %v", d)
	}
	if d := retryAfter("soon"); d != 0 {
		t.Errorf("Retry-After: soon → %v", d)
	}
}
