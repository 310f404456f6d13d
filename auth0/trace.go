package auth0

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracingTransport makes one client span per HTTP attempt (retries and the
// token request included), a child of the span in the request's context:
// a command's Auth0 calls appear under the command's span. Only method,
// host, path and status are recorded: never a query, body or header (they
// may hold the client secret, a token or an email).
type tracingTransport struct {
	next   http.RoundTripper
	tracer trace.Tracer
}

// withTracing wraps hc's transport when tp is set (Config.TracerProvider).
func withTracing(hc *http.Client, tp trace.TracerProvider) {
	if tp == nil {
		return
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &tracingTransport{next: next, tracer: tp.Tracer("github.com/auth0-worker/auth0-worker/auth0")}
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(req.Context(), "auth0 "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host),
			attribute.String("url.path", req.URL.Path)))
	defer span.End()
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		span.SetStatus(codes.Error, "transport error")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}
