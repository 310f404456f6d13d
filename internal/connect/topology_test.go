package connect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

const aclPW = "acl-pa55-topology"

// tlsACL is a Redis node configuration with TLS only and an ACL user.
func tlsACL(p *testpki.PKI) testredis.Options {
	return testredis.Options{ACLUser: "worker", ACLPassword: aclPW, TLS: p}
}

// useAndFail pings with good options, writes through a Lua script on the
// lease/cursor hash tag (what the poller does), then checks that a wrong CA
// and a wrong password each fail with a line naming where and why.
func useAndFail(t *testing.T, good connect.RedisOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb, err := connect.Redis(good)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	testredis.WaitFor(t, "ping "+good.RedactedAddr(), 15*time.Second, func(ctx context.Context) error { return connect.PingRedis(ctx, rdb, good) })
	keys := []string{"auth0w:{t.example}:lease", "auth0w:{t.example}:cursor:search"}
	if n, err := rdb.Eval(ctx, `redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '2'); return 2`, keys).Int(); err != nil || n != 2 {
		t.Fatalf("eval over tagged keys: %v %v", n, err)
	}

	wrongCA := good
	wrongCA.TLSCA = testpki.New(t).CAFile
	wrongPW := good
	wrongPW.Password = "wrong-" + aclPW
	for _, tc := range []struct {
		o    connect.RedisOptions
		want string
	}{{wrongCA, "certificate signed by unknown authority"}, {wrongPW, "WRONGPASS"}} {
		err := pingRedis(t, tc.o)
		if err == nil || !strings.Contains(err.Error(), "redis: ping "+good.RedactedAddr()) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want a line naming %s and %q", err, good.RedactedAddr(), tc.want)
		}
		if err != nil && strings.Contains(err.Error(), aclPW) {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestRedisSingleTLSACL(t *testing.T) {
	p := testpki.New(t)
	rs := testredis.StartWith(t, tlsACL(p))
	useAndFail(t, connect.RedisOptions{Addr: rs.Addr(), Username: "worker", Password: aclPW, TLS: true, TLSCA: p.CAFile})
	// Mutual TLS: the client certificate is presented.
	rm := testredis.StartWith(t, testredis.Options{ACLUser: "worker", ACLPassword: aclPW, TLS: p, MutualTLS: true})
	mt := connect.RedisOptions{Addr: rm.Addr(), Username: "worker", Password: aclPW, TLS: true, TLSCA: p.CAFile}
	if err := pingRedis(t, mt); err == nil {
		t.Fatal("mutual-TLS Redis accepted a client without a certificate")
	}
	mt.TLSCert, mt.TLSKey = p.ClientCert, p.ClientKey
	if err := pingRedis(t, mt); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
}

func TestRedisSentinelTLSACL(t *testing.T) {
	p := testpki.New(t)
	ss := testredis.StartSentinel(t, tlsACL(p))
	good := connect.RedisOptions{
		SentinelAddrs: []string{ss.SentinelAddr}, SentinelMaster: testredis.MasterName,
		SentinelUsername: ss.SentinelUser, SentinelPassword: ss.SentinelPassword,
		Username: "worker", Password: aclPW, DB: 2, TLS: true, TLSCA: p.CAFile, DialTimeout: time.Second,
	}
	useAndFail(t, good)
	// The write went to database 2 of the master the Sentinel named.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mc := ss.Master.Client(t)
	if err := mc.Do(ctx, "SELECT", 2).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := mc.Exists(ctx, "auth0w:{t.example}:lease").Result(); err != nil || n != 1 {
		t.Fatalf("key on master db 2: %v %v", n, err)
	}
	// Wrong Sentinel credentials fail naming the sentinel.
	bad := good
	bad.SentinelPassword = "wrong"
	if err := pingRedis(t, bad); err == nil || !strings.Contains(err.Error(), "sentinel "+ss.SentinelAddr) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedisClusterTLSACL(t *testing.T) {
	p := testpki.New(t)
	cs := testredis.StartCluster(t, tlsACL(p))
	useAndFail(t, connect.RedisOptions{ClusterAddrs: cs.Addrs(), Username: "worker", Password: aclPW, TLS: true, TLSCA: p.CAFile})
}
