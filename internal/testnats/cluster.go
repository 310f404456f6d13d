package testnats

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Cluster is three embedded JetStream servers joined by routes (cluster
// "testjs"). Each node keeps its ports and store across Shutdown and
// Restart, so a test can kill a stream leader and bring it back.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts the three nodes and waits until JetStream has a meta
// leader. opts apply to every node (auth, TLS on the client port ...).
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	clientPorts, routePorts := freePorts(t, 3), freePorts(t, 3)
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	c := &Cluster{}
	for i := range 3 {
		node := func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Port = clientPorts[i]
			o.Cluster = server.ClusterOpts{Name: "testjs", Host: "127.0.0.1", Port: routePorts[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		c.Nodes = append(c.Nodes, newServer(t, append([]Option{node}, opts...)...))
	}
	// The nodes start together: a JetStream node waits for its peers.
	errs := make(chan error, 3)
	for _, n := range c.Nodes {
		t.Cleanup(n.Shutdown)
		go func() { errs <- n.tryStart() }()
	}
	for range c.Nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.WaitJetStream(t, 30*time.Second)
	return c
}

// URL is the comma-separated client URL list of every node.
func (c *Cluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port))
	}
	return strings.Join(urls, ",")
}

// WaitJetStream waits until a running node knows the JetStream meta leader.
func (c *Cluster) WaitJetStream(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, n := range c.Nodes {
			if srv := n.Server(); srv != nil && srv.Running() && srv.JetStreamIsClustered() && srv.JetStreamIsCurrent() && metaLeaderKnown(srv) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testnats: no JetStream meta leader within %v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metaLeaderKnown(srv *server.Server) bool {
	js, err := srv.Jsz(&server.JSzOptions{})
	return err == nil && js.Meta != nil && js.Meta.Leader != ""
}

// StreamLeader is the node leading stream (account $G unless account is
// given), or nil when none does right now.
func (c *Cluster) StreamLeader(stream string, account ...string) *Server {
	acc := server.DEFAULT_GLOBAL_ACCOUNT
	if len(account) > 0 {
		acc = account[0]
	}
	for _, n := range c.Nodes {
		if srv := n.Server(); srv != nil && srv.Running() && srv.JetStreamIsStreamLeader(acc, stream) {
			return n
		}
	}
	return nil
}

// ConsumerLeader is the node leading the durable consumer of stream (account
// $G), or nil when none does right now.
func (c *Cluster) ConsumerLeader(stream, consumer string) *Server {
	for _, n := range c.Nodes {
		if srv := n.Server(); srv != nil && srv.Running() && srv.JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream, consumer) {
			return n
		}
	}
	return nil
}

// WaitStreamLeader waits until a running node other than not leads stream
// and returns it with the time it was first seen leading.
func (c *Cluster) WaitStreamLeader(t testing.TB, stream string, not *Server, d time.Duration, account ...string) (*Server, time.Time) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if l := c.StreamLeader(stream, account...); l != nil && l != not {
			return l, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("testnats: no new leader of %s within %v", stream, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testnats: free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// Connect returns a client connection to every node, closed by t.Cleanup.
// It reconnects forever, so it survives a node's Shutdown and Restart.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, c.URL(), opts...)
}
