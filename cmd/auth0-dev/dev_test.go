package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var natsURLLine = regexp.MustCompile(`NATS\s+(nats://\S+)`)

// TestDevShowsAnEventWithin10s runs auth0-dev as a child process in
// an empty directory (a fresh machine's state) and expects a user.created
// event in the AUTH0_USERS stream within 10 s of the start; then SIGINT stops
// it with exit 0. Without redis-server on PATH dev must fall back to its
// in-process store and say so.
// eventLine is one line of auth0-dev's printout of a stored event.
var eventLine = regexp.MustCompile(`(?m)^event \S+ +\S+ +\S+@\S+`)

func TestDevShowsAnEventWithin10s(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		wantWarn string
	}{
		{name: "redis-server", path: os.Getenv("PATH")},
		{name: "in-process store", path: t.TempDir(), wantWarn: "redis-server not found on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			start := time.Now()
			p := testproc.Start(t, dir, []string{"PATH=" + tc.path})

			var url string
			testwait.For(t, 10*time.Second, "the NATS URL in the banner", func() bool {
				m := natsURLLine.FindStringSubmatch(p.Out.String())
				if m != nil {
					url = m[1]
				}
				return url != ""
			})
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatalf("connect to dev NATS %s: %v", url, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			testwait.For(t, time.Until(start.Add(10*time.Second)), "an event in AUTH0_USERS", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				s, err := js.Stream(ctx, "AUTH0_USERS")
				if err != nil {
					return false
				}
				info, err := s.Info(ctx)
				return err == nil && info.State.Msgs > 0
			})
			// Each stored event is printed once, though the SSE source and the
			// receiver may both publish it (JetStream keeps one by Nats-Msg-Id;
			// a core subscription would see both). By the time the next
			// sign-up is printed, a copy of the first would have been too.
			if tc.wantWarn == "" {
				var lines []string
				testwait.For(t, 20*time.Second, "two events printed", func() bool {
					lines = eventLine.FindAllString(p.Out.String(), -1)
					return len(lines) >= 2 && lines[len(lines)-1] != lines[0]
				})
				if n := strings.Count(p.Out.String(), lines[0]); n != 1 {
					t.Errorf("event printed %d times: %s", n, lines[0])
				}
			}
			if tc.wantWarn != "" && !strings.Contains(p.Out.String(), tc.wantWarn) {
				t.Errorf("output lacks the warning %q", tc.wantWarn)
			}
			if _, err := os.Stat(dir + "/.dev/nats"); err != nil {
				t.Errorf("dev keeps NATS data under ./.dev/nats: %v", err)
			}

			if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- p.Cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("dev exit after SIGINT: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("dev did not exit within 10s of SIGINT")
			}
		})
	}
}
