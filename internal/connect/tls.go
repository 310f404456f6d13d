package connect

import (
	"crypto/tls"
	"fmt"

	"github.com/auth0-worker/auth0-worker/internal/tlsfiles"
)

// tlsConfig is the client side of TLS to NATS or Redis from the files of
// the variables prefix names ("NATS_TLS" → NATS_TLS_CA, NATS_TLS_CERT,
// NATS_TLS_KEY); serverName "" verifies the dialled host.
func tlsConfig(prefix, ca, cert, key, serverName string) (*tls.Config, error) {
	cfg, err := tlsfiles.Files{CA: ca, Cert: cert, Key: key, ServerName: serverName,
		CAVar: prefix + "_CA", CertVar: prefix + "_CERT", KeyVar: prefix + "_KEY"}.Config()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return cfg, nil
}
