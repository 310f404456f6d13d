// Package tlsfiles builds the client side of TLS from files an operator
// names: a CA to trust and a client certificate and key. NATS, Redis
// (internal/connect) and the tracing exporter read theirs through it.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Files names the files, each with the variable that named it (errors say
// the variable, never the key's bytes). An empty CA means the system roots;
// Cert and Key are both set (mutual TLS) or both empty; an empty ServerName
// means the dialled host.
type Files struct {
	CA, Cert, Key          string
	CAVar, CertVar, KeyVar string
	ServerName             string
}

// Config reads the files.
func (f Files) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.CAVar, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", f.CAVar, f.CA)
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" || f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			// LoadX509KeyPair errors name the problem, never the key bytes.
			return nil, fmt.Errorf("%s/%s: %w", f.CertVar, f.KeyVar, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
