package connect

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// tlsFiles is the client side of TLS to NATS or Redis: a CA file (default:
// the system roots), a client certificate and key (mutual TLS, optional) and
// a server name to verify (default: the dialled host). prefix names the
// variables in errors ("NATS_TLS" → NATS_TLS_CA, NATS_TLS_CERT/NATS_TLS_KEY).
type tlsFiles struct {
	prefix, CA, Cert, Key, ServerName string
}

func (f tlsFiles) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: %s_CA: %w", ErrInvalidOptions, f.prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s_CA: %s holds no PEM certificate", ErrInvalidOptions, f.prefix, f.CA)
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			// LoadX509KeyPair errors name the problem, never the key bytes.
			return nil, fmt.Errorf("%w: %s_CERT/%s_KEY: %w", ErrInvalidOptions, f.prefix, f.prefix, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
