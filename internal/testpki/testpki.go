// Package testpki makes a throwaway certificate authority for tests: a CA, a
// server certificate for 127.0.0.1/localhost and a client certificate, as
// PEM files under t.TempDir() and as crypto/tls values. Two calls give two
// unrelated CAs (a "wrong CA" for a negative test).
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a CA with one server and one client certificate.
type PKI struct {
	// CAFile is the CA certificate (PEM); CAPool holds it.
	CAFile string
	CAPool *x509.CertPool
	// ServerCert, ServerKey are the server's files; Server the same as a
	// tls.Certificate. Valid for 127.0.0.1, ::1 and localhost.
	ServerCert, ServerKey string
	Server                tls.Certificate
	// ClientCert, ClientKey are the client's files (CN "worker").
	ClientCert, ClientKey string
}

// New makes a CA and its certificates, valid for an hour.
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auth0-worker test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &PKI{CAPool: x509.NewCertPool()}
	p.CAPool.AddCert(ca)
	p.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	leaf := func(serial int64, cn string, usage []x509.ExtKeyUsage, ips []net.IP, dns []string) ([]byte, *ecdsa.PrivateKey) {
		k := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage, IPAddresses: ips, DNSNames: dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatalf("testpki: %v", err)
		}
		return der, k
	}
	// The server certificate also allows client auth: redis-server and NATS
	// routes present it when they dial each other (replication, cluster bus).
	srvDER, srvKey := leaf(2, "127.0.0.1", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, []string{"localhost"})
	p.Server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	p.ServerCert = writePEM(t, dir, "server.pem", "CERTIFICATE", srvDER)
	p.ServerKey = writeKey(t, dir, "server-key.pem", srvKey)
	cliDER, cliKey := leaf(3, "worker", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	p.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cliDER)
	p.ClientKey = writeKey(t, dir, "client-key.pem", cliKey)
	return p
}

// ServerTLS is the server side without client authentication.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12}
}

// MutualTLS is the server side requiring a client certificate of this CA.
func (p *PKI) MutualTLS() *tls.Config {
	c := p.ServerTLS()
	c.ClientCAs, c.ClientAuth = p.CAPool, tls.RequireAndVerifyClientCert
	return c
}

// ClientTLS trusts this CA (and presents the client certificate).
func (p *PKI) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return &tls.Config{RootCAs: p.CAPool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return k
}

func writeKey(t testing.TB, dir, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", b)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return path
}
