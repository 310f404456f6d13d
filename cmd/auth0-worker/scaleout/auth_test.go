package scaleout

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
	"github.com/auth0-worker/auth0-worker/internal/testnats"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testproc"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
)

// badCase is a change to a working environment and the FAIL line
// `auth0-worker check` must then print.
type badCase struct {
	name string
	env  []string
	item string         // check item of the FAIL line
	want *regexp.Regexp // its reason
}

// TestTLSAndJWT: single-node rediss:// with an ACL user, NATS with an
// operator-signed .creds, NATS with mutual TLS. Each: a short run stores
// every user exactly once and `auth0-worker check` passes; a wrong CA, a
// wrong ACL password, a revoked or an unknown user each fail check with a
// precise line.
func TestTLSAndJWT(t *testing.T) {
	t.Run("rediss", func(t *testing.T) {
		p := testpki.New(t)
		rs := testredis.StartWith(t, redisTLSACL(p))
		ns := testnats.Start(t)
		url := "rediss://" + redisUser + ":" + redisPW + "@" + rs.Addr() + "/0"
		wrongPW := "rediss://" + redisUser + ":wrong-" + redisPW + "@" + rs.Addr() + "/0"
		runAndCheck(t, ns, []string{"NATS_URL=" + ns.URL(), "REDIS_URL=" + url, "REDIS_TLS_CA=" + p.CAFile}, nil, []badCase{
			{"wrong CA", []string{"REDIS_TLS_CA=" + testpki.New(t).CAFile}, "redis", regexp.MustCompile(`rediss://127\.0\.0\.1:\d+/0: .*certificate signed by unknown authority`)},
			{"wrong ACL password", []string{"REDIS_URL=" + wrongPW}, "redis", regexp.MustCompile(`rediss://127\.0\.0\.1:\d+/0: WRONGPASS`)},
		}, redisPW)
	})
	t.Run("nats-creds", func(t *testing.T) {
		op := testnats.NewOperator(t)
		ns := testnats.Start(t, op.Option())
		rs := testredis.Start(t)
		authViolation := regexp.MustCompile(`nats: connect to nats://127\.0\.0\.1:\d+: nats: Authorization Violation \(the user of NATS_CREDS .*\.creds is unknown to the server, revoked or expired`)
		runAndCheck(t, ns, []string{"NATS_URL=" + ns.URL(), "NATS_CREDS=" + op.CredsFile, "REDIS_URL=" + rs.URL()},
			[]nats.Option{nats.UserCredentials(op.CredsFile)}, []badCase{
				{"revoked user", []string{"NATS_CREDS=" + op.RevokedCredsFile}, "nats", authViolation},
				{"unknown user", []string{"NATS_CREDS=" + op.UnknownCredsFile}, "nats", authViolation},
			})
	})
	t.Run("nats-mtls", func(t *testing.T) {
		p := testpki.New(t)
		ns := testnats.Start(t, func(o *server.Options) { o.TLS, o.TLSVerify, o.TLSTimeout, o.TLSConfig = true, true, 2, p.MutualTLS() })
		rs := testredis.Start(t)
		tlsEnv := []string{"NATS_URL=" + ns.URL(), "NATS_TLS_CA=" + p.CAFile, "NATS_TLS_CERT=" + p.ClientCert, "NATS_TLS_KEY=" + p.ClientKey, "REDIS_URL=" + rs.URL()}
		runAndCheck(t, ns, tlsEnv, []nats.Option{nats.Secure(p.ClientTLS(t))}, []badCase{
			{"wrong CA", []string{"NATS_TLS_CA=" + testpki.New(t).CAFile}, "nats", regexp.MustCompile(`certificate signed by unknown authority`)},
		})
	})
}

// runAndCheck runs one worker on env for a short burst (exactly once), then
// `check` on env (passes) and on env plus each bad case (fails with the
// case's line, never showing secrets).
func runAndCheck(t *testing.T, ns *testnats.Server, env []string, natsOpts []nats.Option, bad []badCase, secrets ...string) {
	t.Helper()
	emu := emulatortest.NewServer(t, emulator.Config{Knobs: emulator.Knobs{EventsHeartbeat: 200 * time.Millisecond}})
	env = baseEnv(emu, env...)
	w := testkit.Start(t, t.TempDir(), env)
	testwait.For(t, 15*time.Second, "the worker to lead", w.IsLeader)
	ids := testkit.CreateUsers(t, emu.Emulator, "short", 50, 500*time.Millisecond).Wait()
	testkit.UsersExactlyOnce(t, client(t, ns.Connect(t, natsOpts...)), ids, 20*time.Second)
	w.Kill(t)

	if code, out := check(t, env); code != 0 {
		t.Fatalf("check exited %d:\n%s", code, out)
	}
	for _, bc := range bad {
		code, out := check(t, append(append([]string{}, env...), bc.env...))
		line := failLine(out, bc.item)
		t.Logf("%s: %s", bc.name, line)
		if code == 0 || line == "" || !bc.want.MatchString(line) {
			t.Errorf("%s: check exited %d; want a FAIL %s line matching %q:\n%s", bc.name, code, bc.item, bc.want, out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: check output shows a secret", bc.name)
			}
		}
	}
}

// check runs `auth0-worker check` and returns its exit code and output.
func check(t *testing.T, env []string) (int, string) {
	t.Helper()
	p := testproc.Start(t, t.TempDir(), env, "check")
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
		t.Fatalf("check did not finish within 60s:\n%s", p.Out.String())
	}
	return p.Cmd.ProcessState.ExitCode(), p.Out.String()
}

// failLine is check's FAIL line for item, or "".
func failLine(out, item string) string {
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "FAIL" && strings.HasPrefix(strings.TrimSpace(line[4:]), item+" ") {
			return line
		}
	}
	return ""
}
