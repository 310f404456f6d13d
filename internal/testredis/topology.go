package testredis

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelSet is a master, one replica and one Sentinel watching them as
// "mymaster", with the master's Options (ACL user, TLS) on every data node
// and on the Sentinel; the Sentinel itself requires SentinelUser.
type SentinelSet struct {
	Master, Replica *Server
	// SentinelAddr is the Sentinel's host:port.
	SentinelAddr string
	// SentinelUser and SentinelPassword authenticate to the Sentinel.
	SentinelUser, SentinelPassword string
	opts                           Options
}

// MasterName is the name the Sentinel monitors.
const MasterName = "mymaster"

// StartSentinel starts the set; opts must have an ACL user. Failover is
// quick: the master is down after 1s without answers.
func StartSentinel(t testing.TB, opts Options) *SentinelSet {
	t.Helper()
	if opts.ACLUser == "" {
		t.Fatal("testredis: StartSentinel needs an ACL user")
	}
	auth := []string{"--masteruser", opts.ACLUser, "--masterauth", opts.ACLPassword}
	mopts := opts
	mopts.ExtraArgs = append(append([]string{}, opts.ExtraArgs...), auth...)
	master := StartWith(t, mopts)
	ropts := mopts
	ropts.ExtraArgs = append(append([]string{}, mopts.ExtraArgs...), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()))
	replica := StartWith(t, ropts)
	ss := &SentinelSet{Master: master, Replica: replica, SentinelUser: "sentinel-client", SentinelPassword: opts.ACLPassword + "-sentinel", opts: opts}
	port := freePort(t)
	ss.SentinelAddr = "127.0.0.1:" + strconv.Itoa(port)
	conf := fmt.Sprintf(`bind 127.0.0.1
port %[1]d
sentinel monitor %[2]s 127.0.0.1 %[3]d 1
sentinel down-after-milliseconds %[2]s 1000
sentinel failover-timeout %[2]s 10000
sentinel auth-user %[2]s %[4]s
sentinel auth-pass %[2]s %[5]s
user default off
user %[6]s on >%[7]s ~* &* +@all
`, port, MasterName, master.Port(), opts.ACLUser, opts.ACLPassword, ss.SentinelUser, ss.SentinelPassword)
	var extra []string
	if opts.TLS != nil {
		extra = TLSArgs(opts.TLS, port, opts.MutualTLS)
	}
	startProc(t, conf, append(extra, "--sentinel")...)
	ss.waitMasterReplicated(t)
	return ss
}

// Client is a Sentinel-following client, as the worker builds it.
func (ss *SentinelSet) Client(t testing.TB) *redis.Client {
	t.Helper()
	o := &redis.FailoverOptions{
		MasterName: MasterName, SentinelAddrs: []string{ss.SentinelAddr},
		SentinelUsername: ss.SentinelUser, SentinelPassword: ss.SentinelPassword,
		Username: ss.opts.ACLUser, Password: ss.opts.ACLPassword,
	}
	if ss.opts.TLS != nil {
		o.TLSConfig = ss.opts.TLS.ClientTLS(t)
	}
	c := redis.NewFailoverClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitMasterReplicated waits until the Sentinel answers with the master and
// the replica is in sync, so a failover has a replica to promote.
func (ss *SentinelSet) waitMasterReplicated(t testing.TB) {
	t.Helper()
	c := ss.Client(t)
	WaitFor(t, "sentinel set ready", 20*time.Second, func(ctx context.Context) error {
		if err := c.Set(ctx, "testredis:ready", "1", 0).Err(); err != nil {
			return err
		}
		info, err := ss.Replica.Client(t).Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica not in sync")
		}
		return nil
	})
}

// ClusterSet is a Redis Cluster of three masters (no replicas) owning all
// slots, each node with the given Options (ACL user, TLS).
type ClusterSet struct {
	Nodes []*Server
	opts  Options
}

// StartCluster starts three cluster-enabled nodes and joins them with
// redis-cli --cluster create. A node down for more than 2s marks the cluster
// failed until it is back.
func StartCluster(t testing.TB, opts Options) *ClusterSet {
	t.Helper()
	cs := &ClusterSet{opts: opts}
	var addrs []string
	for range 3 {
		o := opts
		o.ExtraArgs = append(append([]string{}, opts.ExtraArgs...),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
			"--cluster-port", strconv.Itoa(freePort(t)), "--cluster-require-full-coverage", "yes")
		n := StartWith(t, o)
		cs.Nodes = append(cs.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-yes")
	args = append(args, cs.cliArgs()...)
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("testredis: redis-cli --cluster create: %v\n%s", err, out)
	}
	cs.WaitOK(t)
	return cs
}

// cliArgs are redis-cli's authentication and TLS flags.
func (cs *ClusterSet) cliArgs() []string {
	var a []string
	if cs.opts.ACLUser != "" {
		a = append(a, "--user", cs.opts.ACLUser, "--pass", cs.opts.ACLPassword, "--no-auth-warning")
	}
	if p := cs.opts.TLS; p != nil {
		a = append(a, "--tls", "--cacert", p.CAFile, "--cert", p.ClientCert, "--key", p.ClientKey)
	}
	return a
}

// Addrs are the nodes' host:port.
func (cs *ClusterSet) Addrs() []string {
	var out []string
	for _, n := range cs.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// WaitOK waits until every node reports cluster_state:ok.
func (cs *ClusterSet) WaitOK(t testing.TB) {
	t.Helper()
	for _, n := range cs.Nodes {
		c := n.Client(t)
		WaitFor(t, "cluster_state:ok on "+n.Addr(), 30*time.Second, func(ctx context.Context) error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("not ok yet")
			}
			return nil
		})
	}
}

// Client is a cluster client, as the worker builds it.
func (cs *ClusterSet) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	o := &redis.ClusterOptions{Addrs: cs.Addrs(), Username: cs.opts.ACLUser, Password: cs.opts.ACLPassword}
	if cs.opts.TLS != nil {
		o.TLSConfig = cs.opts.TLS.ClientTLS(t)
	}
	c := redis.NewClusterClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// WaitFor retries f (each try with a 2s context) every 50ms until it returns
// nil, failing the test after d.
func WaitFor(t testing.TB, what string, d time.Duration, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startProc runs redis-server with a config file (first argument, as
// redis-server --sentinel requires, and writable: Sentinel rewrites it)
// until the test ends.
func startProc(t testing.TB, conf string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", append([]string{cf, "--dir", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testredis: redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("redis-server %s:\n%s", filepath.Base(dir), out.String())
		}
	})
}

// MasterAddr asks the Sentinel for the current master's host:port.
func (ss *SentinelSet) MasterAddr(ctx context.Context) (string, error) {
	o := &redis.Options{Addr: ss.SentinelAddr, Username: ss.SentinelUser, Password: ss.SentinelPassword}
	if ss.opts.TLS != nil {
		o.TLSConfig = ss.opts.TLS.ClientTLS(ss.Master.t)
	}
	sc := redis.NewSentinelClient(o)
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return a[0] + ":" + a[1], nil
}

// WaitPromotion waits until the Sentinel names a master other than was and
// returns when it first did.
func (ss *SentinelSet) WaitPromotion(t testing.TB, was string, d time.Duration) time.Time {
	t.Helper()
	var at time.Time
	WaitFor(t, "a new master", d, func(ctx context.Context) error {
		a, err := ss.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if a == was {
			return fmt.Errorf("master still %s", a)
		}
		at = time.Now()
		return nil
	})
	return at
}
