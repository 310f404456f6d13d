package connect_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

// The environment → config → connect path, with the _FILE forms (trailing
// newline trimmed by config) and TLS.
func TestFromConfigFileSecretsAndTLS(t *testing.T) {
	const natsPW, redisPW = "nats-file-pw", "redis-file-pw"
	p := testpki.New(t)
	ns := testnats.Start(t, func(o *server.Options) {
		o.Username, o.Password = "worker", natsPW
		o.TLS, o.TLSTimeout = true, 2
		o.TLSConfig = p.ServerTLS()
	})
	rs := testredis.StartWith(t, testredis.Options{ACLUser: "worker", ACLPassword: redisPW})
	dir := t.TempDir()
	write := func(name, v string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	env := map[string]string{
		"NATS_URL":            ns.URL(),
		"NATS_USER":           "worker",
		"NATS_PASSWORD_FILE":  write("nats-pw", natsPW),
		"NATS_TLS_CA":         p.CAFile,
		"REDIS_URL":           "redis://worker@" + rs.Addr() + "/0",
		"REDIS_PASSWORD_FILE": write("redis-pw", redisPW),
	}
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.NeedFor("dev"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := connect.NATS(connect.NATSFromConfig(cfg), "auth0-worker-test", nil)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if !nc.TLSRequired() {
		t.Fatal("connection is not TLS")
	}
	ro := connect.RedisFromConfig(cfg)
	rdb, err := connect.Redis(ro)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := connect.PingRedis(ctx, rdb, ro); err != nil {
		t.Fatalf("redis: %v", err)
	}
}
