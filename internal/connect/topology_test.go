package connect_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/auth0-worker/auth0-worker/internal/connect"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedisProc runs redis-server with a config file and extra args until
// the test ends.
func startRedisProc(t *testing.T, conf string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", append([]string{cf, "--dir", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// waitFor retries f until it returns nil or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisSentinel(t *testing.T) {
	const pw = "sentinel-master-pw"
	master := testredis.StartWith(t, testredis.Options{Password: pw})
	_, mport, _ := net.SplitHostPort(master.Addr())
	sport := freePort(t)
	startRedisProc(t, fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 %s 1\nsentinel auth-pass mymaster %s\n", sport, mport, pw), "--sentinel")
	saddr := "127.0.0.1:" + strconv.Itoa(sport)

	opts := connect.RedisOptions{SentinelAddrs: []string{saddr}, SentinelMaster: "mymaster", Password: pw, DialTimeout: time.Second}
	rdb, err := connect.Redis(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitFor(t, "ping through sentinel", 10*time.Second, func() error { return connect.PingRedis(ctx, rdb, opts) })
	if err := rdb.Set(ctx, "k", "via-sentinel", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The write landed on the master the Sentinel named.
	if v, err := master.Client(t).Get(ctx, "k").Result(); err != nil || v != "via-sentinel" {
		t.Fatalf("master has %q, %v", v, err)
	}

	// A wrong master name fails with a clear error naming the sentinel.
	bad := opts
	bad.SentinelMaster = "nosuchmaster"
	brdb, err := connect.Redis(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer brdb.Close()
	err = connect.PingRedis(ctx, brdb, bad)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("sentinel "+saddr)) || bytes.Contains([]byte(err.Error()), []byte(pw)) {
		t.Fatalf("err = %v", err)
	}
}

func TestRedisCluster(t *testing.T) {
	// A one-node cluster owning every slot is a real Redis Cluster for the
	// client: CLUSTER SLOTS, MOVED handling and the hash-tag rules apply.
	port := freePort(t)
	startRedisProc(t, fmt.Sprintf("port %d\nbind 127.0.0.1\ncluster-enabled yes\nappendonly no\nsave \"\"\n", port))
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	waitFor(t, "node up", 10*time.Second, func() error { return admin.Ping(ctx).Err() })
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cluster ok", 10*time.Second, func() error {
		info, err := admin.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !bytes.Contains([]byte(info), []byte("cluster_state:ok")) {
			return fmt.Errorf("state: %s", info)
		}
		return nil
	})

	opts := connect.RedisOptions{ClusterAddrs: []string{addr}}
	rdb, err := connect.Redis(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := connect.PingRedis(ctx, rdb, opts); err != nil {
		t.Fatal(err)
	}
	// The lease/cursor keys share the {T} hash tag, so a Lua script touching
	// both is accepted by the cluster.
	keys := []string{"auth0w:{t.example}:lease", "auth0w:{t.example}:cursor:search"}
	n, err := rdb.Eval(ctx, `redis.call('SET', KEYS[1], '1'); redis.call('SET', KEYS[2], '2'); return 2`, keys).Int()
	if err != nil || n != 2 {
		t.Fatalf("eval over tagged keys: %v %v", n, err)
	}
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("client is %T", rdb)
	}
}
