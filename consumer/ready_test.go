package consumer

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Ready means a request sent by anyone, on any connection, is answered:
// the server has the micro service's subscriptions when Ready closes, not
// only the worker's outgoing buffer. The worker's connection runs through
// a link that delays what it sends by 100ms, so a Ready that does not wait
// for the server is caught at once.
func TestReadyMeansTheServerHasTheSubscriptions(t *testing.T) {
	e := newEnv(t, envConfig{noStart: true})
	slow, err := nats.Connect(delayedLink(t, e.nsrv.Server.URL(), 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(slow.Close)
	o := e.c.o
	o.NC, o.JS, o.DisableDurable = slow, nil, true
	if e.c, err = New(o); err != nil {
		t.Fatal(err)
	}
	e.start()
	subject := e.c.ServiceSubject(CmdGet)
	if n := e.nsrv.Server.Server().GlobalAccount().Interest(subject); n == 0 {
		t.Fatalf("Ready closed before the server had a subscription on %s", subject)
	}
}

// delayedLink is a TCP link to the NATS server at url whose client-to-server
// direction delivers each read d late; it returns the URL to connect to.
func delayedLink(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	target := url[len("nats://"):]
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			t.Cleanup(func() { client.Close(); server.Close() })
			go func() { _, _ = io.Copy(client, server) }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := client.Read(buf)
					if err != nil {
						server.Close()
						return
					}
					time.Sleep(d) // the latency under test, not a wait for anything
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "nats://" + l.Addr().String()
}
