package tlsfiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Errors name the variable and keep the cause; none is made without files.
func TestConfigNamesTheVariable(t *testing.T) {
	if c, err := (Files{ServerName: "redis"}).Config(); err != nil || c.RootCAs != nil || c.ServerName != "redis" {
		t.Fatalf("no files: %+v, %v; want the system roots and the server name", c, err)
	}
	_, err := Files{CA: "/nonexistent/ca.pem", CAVar: "X_CA"}.Config()
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "X_CA: ") {
		t.Errorf("missing CA: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Files{CA: notPEM, CAVar: "X_CA"}).Config(); err == nil || !strings.Contains(err.Error(), "X_CA: "+notPEM+" holds no PEM certificate") {
		t.Errorf("CA without PEM: %v", err)
	}
	if _, err := (Files{Cert: notPEM, Key: notPEM, CertVar: "X_CERT", KeyVar: "X_KEY"}).Config(); err == nil || !strings.HasPrefix(err.Error(), "X_CERT/X_KEY: ") {
		t.Errorf("bad key pair: %v", err)
	}
}
