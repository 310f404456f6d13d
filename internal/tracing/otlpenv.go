package tracing

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/auth0-worker/auth0-worker/internal/tlsfiles"
)

// DefaultExportTimeout is how long one export may take, retries included,
// unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise (the OTLP default).
const DefaultExportTimeout = 10 * time.Second

// maxTimeoutMillis is the largest OTEL_EXPORTER_OTLP_TIMEOUT a
// time.Duration holds (about 292 years).
const maxTimeoutMillis = int64(1<<63-1) / int64(time.Millisecond)

// tracesPath is appended to OTEL_EXPORTER_OTLP_ENDPOINT; a
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is.
const tracesPath = "/v1/traces"

// ErrConfig is wrapped by every error about an OTEL_EXPORTER_OTLP_*
// variable. The errors name the variable, never its value (headers carry
// API keys).
var ErrConfig = errors.New("tracing: invalid OTLP exporter setting")

// exportConfig is what the standard OTEL_EXPORTER_OTLP_* variables say,
// each read in its _TRACES_ form first.
type exportConfig struct {
	url     string
	headers http.Header
	timeout time.Duration // 0: none of its own (the SDK's export timeout, 30s, still ends an export)
	gzip    bool
	tls     *tls.Config // nil: the system's roots, no client certificate
}

// configFromEnv reads the exporter's settings; every value is checked here,
// once, so a bad one stops the process at start with the variable's name.
func configFromEnv(getenv func(string) string) (exportConfig, error) {
	env := otlpEnv(getenv)
	cfg := exportConfig{headers: http.Header{}, timeout: DefaultExportTimeout}
	var err error
	if cfg.url, err = env.endpoint(); err != nil {
		return cfg, err
	}
	if name, v := env.get("PROTOCOL"); v != "" && v != "http/protobuf" {
		return cfg, env.fail(name, "is %q; this exporter sends http/protobuf only", v)
	}
	if name, v := env.get("HEADERS"); v != "" {
		if err := parseHeaders(v, cfg.headers); err != nil {
			return cfg, env.fail(name, "%v", err)
		}
	}
	if name, v := env.get("TIMEOUT"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 || ms > maxTimeoutMillis {
			return cfg, env.fail(name, "is %q; want milliseconds from 0 (no limit of its own) to %d", v, maxTimeoutMillis)
		}
		cfg.timeout = time.Duration(ms) * time.Millisecond
	}
	switch name, v := env.get("COMPRESSION"); v {
	case "gzip":
		cfg.gzip = true
	case "", "none":
	default:
		return cfg, env.fail(name, "is %q; want gzip or none", v)
	}
	cfg.tls, err = env.tlsConfig()
	return cfg, err
}

// otlpEnv reads OTEL_EXPORTER_OTLP_TRACES_<key>, else OTEL_EXPORTER_OTLP_<key>.
type otlpEnv func(string) string

func (e otlpEnv) get(key string) (name, value string) {
	name = "OTEL_EXPORTER_OTLP_TRACES_" + key
	if v := strings.TrimSpace(e(name)); v != "" {
		return name, v
	}
	name = "OTEL_EXPORTER_OTLP_" + key
	return name, strings.TrimSpace(e(name))
}

func (otlpEnv) fail(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrConfig, name, fmt.Sprintf(format, args...))
}

// endpoint is the URL spans are posted to.
func (e otlpEnv) endpoint() (string, error) {
	name, v := e.get("ENDPOINT")
	signal := strings.HasPrefix(name, "OTEL_EXPORTER_OTLP_TRACES_")
	if v == "" {
		return "", e.fail(name, "is not set")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value may hold credentials: say what is wrong, not what it is.
		return "", e.fail(name, "is not an http:// or https:// URL with a host")
	}
	switch {
	case !signal:
		u.Path = path.Join(u.Path, tracesPath)
	case u.Path == "":
		u.Path = "/"
	}
	return u.String(), nil
}

// tlsConfig is the CA certificate and client key pair to use (nil when
// neither is set).
func (e otlpEnv) tlsConfig() (*tls.Config, error) {
	caName, ca := e.get("CERTIFICATE")
	certName, cert := e.get("CLIENT_CERTIFICATE")
	keyName, key := e.get("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	if (cert == "") != (key == "") {
		return nil, e.fail(certName, "and %s must be set together", keyName)
	}
	c, err := tlsfiles.Files{CA: ca, Cert: cert, Key: key, CAVar: caName, CertVar: certName, KeyVar: keyName}.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

// parseHeaders reads the OTLP headers format: key=value pairs separated by
// commas, values percent-encoded; empty entries are skipped. A name or value
// net/http would refuse is refused here, at start. Errors give the entry's
// position only: an operator who writes "Authorization: Basic …" puts the
// credential in the name.
func parseHeaders(s string, h http.Header) error {
	for i, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("entry %d is not name=value with a valid HTTP header name", i+1)
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil || !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("entry %d has a value that is not valid percent-encoding of a header value", i+1)
		}
		h.Set(k, v)
	}
	return nil
}
