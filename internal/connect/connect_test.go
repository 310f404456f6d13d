package connect_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

func natsOK(t *testing.T, opts connect.NATSOptions) {
	t.Helper()
	nc, err := connect.NATS(opts, "auth0-worker-test", nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil { // a PING/PONG through the server
		t.Fatalf("flush: %v", err)
	}
}

func natsFails(t *testing.T, opts connect.NATSOptions, wantIn string, secrets ...string) error {
	t.Helper()
	nc, err := connect.NATS(opts, "auth0-worker-test", nil)
	if err == nil {
		nc.Close()
		t.Fatalf("connect succeeded, want an error containing %q", wantIn)
	}
	msg := err.Error()
	if !strings.Contains(strings.ToLower(msg), strings.ToLower(wantIn)) {
		t.Fatalf("error %q does not contain %q", msg, wantIn)
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Fatalf("error %q contains a secret", msg)
		}
	}
	return err
}

func TestNATSUserPassword(t *testing.T) {
	const pw = "n4ts-pa55word-xyz"
	s := testnats.Start(t, func(o *server.Options) { o.Username, o.Password = "worker", pw })
	natsOK(t, connect.NATSOptions{URL: s.URL(), User: "worker", Password: pw})
	natsFails(t, connect.NATSOptions{URL: s.URL(), User: "worker", Password: "wrong-" + pw}, "authorization violation", pw)
	natsFails(t, connect.NATSOptions{URL: s.URL()}, "authorization violation")
	// Credentials inside NATS_URL work and never show in the error.
	u := strings.Replace(s.URL(), "nats://", "nats://worker:"+pw+"@", 1)
	natsOK(t, connect.NATSOptions{URL: u})
	bad := strings.Replace(s.URL(), "nats://", "nats://worker:bad"+pw+"@", 1)
	natsFails(t, connect.NATSOptions{URL: bad}, "authorization violation", pw)
}

func TestNATSToken(t *testing.T) {
	const tok = "t0ken-abcdef-123456"
	s := testnats.Start(t, func(o *server.Options) { o.Authorization = tok })
	natsOK(t, connect.NATSOptions{URL: s.URL(), Token: tok})
	natsFails(t, connect.NATSOptions{URL: s.URL(), Token: "not-" + tok}, "authorization violation", tok)
}

func TestNATSNKey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := testnats.Start(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	natsOK(t, connect.NATSOptions{URL: s.URL(), NKeySeedFile: seedFile})
	natsFails(t, connect.NATSOptions{URL: s.URL()}, "authorization violation")
	garbage := filepath.Join(t.TempDir(), "bad.nk")
	_ = os.WriteFile(garbage, []byte("SUAnotaseed"), 0o600)
	err = natsFails(t, connect.NATSOptions{URL: s.URL(), NKeySeedFile: garbage}, "NATS_NKEY_SEED_FILE")
	if !errors.Is(err, connect.ErrInvalidOptions) {
		t.Fatalf("want ErrInvalidOptions, got %v", err)
	}
}

func TestNATSTLS(t *testing.T) {
	p := testpki.New(t)
	s := testnats.Start(t, func(o *server.Options) {
		o.TLS = true
		o.TLSTimeout = 2
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12}
	})
	natsOK(t, connect.NATSOptions{URL: s.URL(), TLSCA: p.CAFile})
	natsOK(t, connect.NATSOptions{URL: strings.Replace(s.URL(), "nats://", "tls://", 1), TLSCA: p.CAFile})
	// Without our CA the server's certificate is not trusted.
	natsFails(t, connect.NATSOptions{URL: strings.Replace(s.URL(), "nats://", "tls://", 1)}, "certificate")
	natsFails(t, connect.NATSOptions{URL: s.URL(), TLSCA: filepath.Join(t.TempDir(), "missing.pem")}, "NATS_TLS_CA")
}

func TestNATSMutualTLS(t *testing.T) {
	p := testpki.New(t)
	s := testnats.Start(t, func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSTimeout = true, true, 2
		o.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12,
			ClientCAs: p.CAPool, ClientAuth: tls.RequireAndVerifyClientCert,
		}
	})
	natsOK(t, connect.NATSOptions{URL: s.URL(), TLSCA: p.CAFile, TLSCert: p.ClientCert, TLSKey: p.ClientKey})
	// Without a client certificate the server refuses the handshake.
	if nc, err := connect.NATS(connect.NATSOptions{URL: s.URL(), TLSCA: p.CAFile}, "x", nil); err == nil {
		nc.Close()
		t.Fatal("connected to a mutual-TLS server without a client certificate")
	}
}

func TestNATSOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    connect.NATSOptions
		want string
	}{
		{"two auth kinds", connect.NATSOptions{User: "u", Password: "p", Token: "t"}, "set only one of NATS_USER/NATS_PASSWORD, NATS_TOKEN"},
		{"user without password", connect.NATSOptions{User: "u"}, "NATS_USER and NATS_PASSWORD"},
		{"cert without key", connect.NATSOptions{TLSCert: "c.pem"}, "NATS_TLS_CERT and NATS_TLS_KEY"},
		{"bad scheme", connect.NATSOptions{URL: "http://127.0.0.1:4222"}, `scheme "http"`},
		{"creds missing", connect.NATSOptions{CredsFile: "/nonexistent/x.creds"}, "NATS_CREDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect.NATS(tc.o, "x", nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, connect.ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions containing %q", err, tc.want)
			}
		})
	}
}

func TestNATSReconnectsAfterRestart(t *testing.T) {
	s := testnats.Start(t)
	nc, err := connect.NATS(connect.NATSOptions{URL: s.URL(), ReconnectWait: 50 * time.Millisecond}, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	s.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for nc.Stats().Reconnects == 0 || !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected: status %v", nc.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestNATSUnreachable(t *testing.T) {
	natsFails(t, connect.NATSOptions{URL: "nats://127.0.0.1:1", ConnectTimeout: time.Second}, "nats: connect to nats://127.0.0.1:1")
}

func TestRedisACLUser(t *testing.T) {
	const pw = "r3dis-acl-pa55"
	rs := testredis.StartWith(t, testredis.Options{ACLUser: "worker", ACLPassword: pw})
	if err := pingRedis(t, connect.RedisOptions{Addr: rs.Addr(), Username: "worker", Password: pw}); err != nil {
		t.Fatalf("ACL user: %v", err)
	}
	for _, o := range []connect.RedisOptions{
		{Addr: rs.Addr(), Username: "worker", Password: "wrong-" + pw},
		{Addr: rs.Addr()}, // default user is off
	} {
		err := pingRedis(t, o)
		if err == nil {
			t.Fatalf("%s: ping succeeded with wrong credentials", o.RedactedAddr())
		}
		msg := err.Error()
		if !strings.Contains(msg, "redis: ping redis://"+rs.Addr()+"/0: ") ||
			!(strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") || strings.Contains(msg, "NOPERM")) {
			t.Fatalf("unclear error %q", msg)
		}
		if strings.Contains(msg, pw) {
			t.Fatalf("error %q contains the password", msg)
		}
	}
}

// pingRedis builds a client for o and pings once.
func pingRedis(t *testing.T, o connect.RedisOptions) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb, err := connect.Redis(o)
	if err != nil {
		return err
	}
	defer rdb.Close()
	return connect.PingRedis(ctx, rdb, o)
}

func TestRedisUnreachable(t *testing.T) {
	o := connect.RedisOptions{Addr: "127.0.0.1:1", Username: "u", Password: "secretpw", DialTimeout: time.Second}
	err := pingRedis(t, o)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "secretpw") {
		t.Fatalf("err = %v", err)
	}
}

func TestRedisOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    connect.RedisOptions
		want string
	}{
		{"addr not host:port", connect.RedisOptions{Addr: "redis://h:1"}, "REDIS_URL"},
		{"sentinel without master", connect.RedisOptions{SentinelAddrs: []string{"127.0.0.1:26379"}}, "REDIS_SENTINEL_MASTER"},
		{"both topologies", connect.RedisOptions{SentinelAddrs: []string{"a:1"}, SentinelMaster: "m", ClusterAddrs: []string{"b:2"}}, "not both"},
		{"cluster addr not host:port", connect.RedisOptions{ClusterAddrs: []string{"redis://a:1"}}, "REDIS_CLUSTER_ADDRS"},
		{"cluster with db", connect.RedisOptions{DB: 3, ClusterAddrs: []string{"a:1"}}, "database 3"},
		{"tls file without tls", connect.RedisOptions{TLSCA: "ca.pem"}, "TLS to Redis is off"},
		{"cert without key", connect.RedisOptions{TLS: true, TLSCert: "c.pem"}, "REDIS_TLS_CERT and REDIS_TLS_KEY"},
		{"missing CA file", connect.RedisOptions{TLS: true, TLSCA: "/nonexistent/ca.pem"}, "REDIS_TLS_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect.Redis(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, connect.ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions containing %q", err, tc.want)
			}
		})
	}
}

func TestRedisTopologies(t *testing.T) {
	// Sentinel and Cluster build the matching go-redis clients (no I/O).
	c, err := connect.Redis(connect.RedisOptions{SentinelAddrs: []string{"127.0.0.1:26379"}, SentinelMaster: "mymaster"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*redis.Client); !ok {
		t.Fatalf("sentinel client is %T", c)
	}
	cc, err := connect.Redis(connect.RedisOptions{ClusterAddrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, ok := cc.(*redis.ClusterClient); !ok {
		t.Fatalf("cluster client is %T", cc)
	}
}

func TestNATSCredsOperator(t *testing.T) {
	op := testnats.NewOperator(t)
	s := testnats.Start(t, op.Option())
	natsOK(t, connect.NATSOptions{URL: s.URL(), CredsFile: op.CredsFile})
	// A revoked user and a user of an account the server does not know are
	// refused with the server's verdict.
	natsFails(t, connect.NATSOptions{URL: s.URL(), CredsFile: op.RevokedCredsFile}, "authorization violation")
	natsFails(t, connect.NATSOptions{URL: s.URL(), CredsFile: op.UnknownCredsFile}, "authorization violation")
	natsFails(t, connect.NATSOptions{URL: s.URL()}, "authorization violation")
}
