package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/testproc"
	"github.com/auth0-worker/auth0-worker/internal/testwait"
	"github.com/auth0-worker/auth0-worker/schemas/schemacheck"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readmeNATSCommands returns the `nats ...` lines of the README's code
// blocks, split into arguments (single quotes group, as in a shell).
func readmeNATSCommands(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		line = strings.TrimSpace(line)
		if !inCode || !strings.HasPrefix(line, "nats ") {
			continue
		}
		line = strings.TrimSuffix(line, " &")
		out = append(out, shellSplit(line))
	}
	return out
}

func shellSplit(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// parseNATSArgs splits `nats <verb> [positional...] [-H K:V]...` (skipping -s URL).
func parseNATSArgs(args []string) (verb string, pos []string, hdr nats.Header) {
	hdr = nats.Header{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s":
			i++
		case a == "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			hdr.Set(k, v)
		case strings.HasPrefix(a, "--"):
		default:
			if verb == "" {
				verb = a
			} else {
				pos = append(pos, a)
			}
		}
	}
	return verb, pos, hdr
}

// TestREADMEExamplesAgainstDev runs every `nats req` / `nats pub` example of
// the README (their subjects, bodies and headers) against auth0-dev, the way a
// newcomer following the README would, and expects the documented replies.
func TestREADMEExamplesAgainstDev(t *testing.T) {
	cmds := readmeNATSCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("found only %d nats examples in README.md", len(cmds))
	}
	url, p := startDev(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var reqs, pubs int
	for _, args := range cmds {
		verb, pos, hdr := parseNATSArgs(args)
		line := strings.Join(args, " ")
		switch verb {
		case "req":
			reqs++
			msg := &nats.Msg{Subject: pos[0], Data: []byte(pos[1]), Header: hdr}
			reply, err := nc.RequestMsg(msg, 15*time.Second)
			if err != nil {
				t.Errorf("%s: %v", line, err)
				continue
			}
			if code := reply.Header.Get("Nats-Service-Error-Code"); code != "" {
				t.Errorf("%s: error %s %s: %s", line, code, reply.Header.Get("Nats-Service-Error"), reply.Data)
				continue
			}
			if !json.Valid(reply.Data) {
				t.Errorf("%s: reply is not JSON: %q", line, reply.Data)
			}
			schemacheck.CheckReply(t, strings.TrimPrefix(pos[0], "auth0.svc."), 200, reply.Data)
		case "pub":
			pubs++
			msg := &nats.Msg{Subject: pos[0], Data: []byte(pos[1]), Header: hdr}
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Errorf("%s: %v", line, err)
				continue
			}
			id := hdr.Get("Nats-Msg-Id")
			var outcome *jetstream.RawStreamMsg
			testwait.For(t, 20*time.Second, "the outcome of "+id, func() bool {
				s, err := js.Stream(ctx, "AUTH0_RESULTS")
				if err != nil {
					return false
				}
				outcome, err = s.GetLastMsgForSubject(ctx, "auth0.results."+id)
				return err == nil
			})
			if code := outcome.Header.Get("Nats-Service-Error-Code"); code != "" {
				t.Errorf("%s: outcome error %s: %s", line, code, outcome.Data)
			}
		case "micro":
			if _, err := nc.Request("$SRV.PING.auth0-worker", nil, 5*time.Second); err != nil {
				t.Errorf("%s: no service answers $SRV.PING.auth0-worker: %v", line, err)
			}
		case "stream":
			if len(pos) > 1 {
				if _, err := js.Stream(ctx, pos[1]); err != nil {
					t.Errorf("%s: stream %s: %v", line, pos[1], err)
				}
			}
		}
	}
	if reqs < 8 || pubs < 1 {
		t.Fatalf("README has %d req and %d pub examples; expected every command documented", reqs, pubs)
	}

	// The update and the delete examples produce their events (README "User
	// life cycle"): dev runs all three types, over SSE and the receiver.
	for _, w := range []struct{ subject, prefix string }{
		{"auth0.users.updated", "updated@auth0|0000000000000000000000a1@"},
		{"auth0.users.deleted", "deleted@auth0|0000000000000000000000a5@"},
	} {
		testwait.For(t, 20*time.Second, "an event on "+w.subject, func() bool {
			s, err := js.Stream(ctx, "AUTH0_USERS")
			if err != nil {
				return false
			}
			m, err := s.GetLastMsgForSubject(ctx, w.subject)
			return err == nil && strings.HasPrefix(m.Header.Get("Nats-Msg-Id"), w.prefix)
		})
	}
	if out := p.Out.String(); !strings.Contains(out, "user.updated  updated@auth0|0000000000000000000000a1@") || !strings.Contains(out, "user.deleted  deleted@auth0|0000000000000000000000a5@") {
		t.Errorf("dev did not print the update and the deletion:\n%s", out)
	}

	// The documented error example: a create without connection → 400 naming the field.
	reply, err := nc.Request("auth0.svc.users.create", []byte(`{"email":"x@example.com"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Header.Get("Nats-Service-Error-Code") != "400" || !strings.Contains(string(reply.Data), `"code":"invalid_command"`) || !strings.Contains(string(reply.Data), "connection") {
		t.Errorf("missing connection: headers %v body %s", reply.Header, reply.Data)
	}
	t.Logf("error example reply: %s", reply.Data)

	// A durable command without a command id is dead-lettered.
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "auth0.cmd.users.create", Data: []byte(`{"connection":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "a dead letter", func() bool {
		s, err := js.Stream(ctx, "AUTH0_DLQ")
		if err != nil {
			return false
		}
		_, err = s.GetLastMsgForSubject(ctx, "auth0.dlq.cmd.users.create")
		return err == nil
	})

	// After a run that published events and executed commands, /metrics
	// exposes every metric of README "Operations" with its labels.
	httpURL := regexp.MustCompile(`HTTP\s+(http://\S+)`).FindStringSubmatch(p.Out.String())
	if httpURL == nil {
		t.Fatal("no HTTP address in the dev banner")
	}
	want := map[string][]string{
		"auth0_worker_users_published_total":               {"source", "type"},
		"auth0_worker_dedupe_skipped_total":                nil,
		"auth0_worker_reconcile_found_total":               nil,
		"auth0_worker_poll_cycles_total":                   {"source", "outcome"},
		"auth0_worker_last_poll_success_timestamp_seconds": nil,
		"auth0_worker_last_publish_timestamp_seconds":      nil,
		"auth0_worker_event_lag_seconds_bucket":            {"le", "type"},
		"auth0_worker_source_active":                       {"source"},
		"auth0_worker_auth0_requests_total":                {"op", "status"},
		"auth0_worker_auth0_ratelimit_remaining":           nil,
		"auth0_worker_commands_total":                      {"command", "transport", "outcome"},
		"auth0_worker_command_duration_seconds_bucket":     {"command", "le"},
		"auth0_worker_dlq_total":                           {"command"},
		"auth0_worker_leader":                              nil,
		"auth0_worker_lease_changes_total":                 nil,
		"auth0_worker_commands_dropped_total":              nil,
	}
	var body string
	testwait.For(t, 20*time.Second, "every documented metric on /metrics", func() bool {
		resp, err := http.Get(httpURL[1] + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		for name, labels := range want {
			if !metricHasLabels(body, name, labels) {
				return false
			}
		}
		return true
	})
	// SSE and the receiver race for each event; whichever publishes first is
	// the source the counter names.
	if !regexp.MustCompile(`(?m)^auth0_worker_users_published_total\{source="(events|webhook)",type="created"\} [1-9]`).MatchString(body) {
		t.Errorf("no events published according to /metrics")
	}
	if !regexp.MustCompile(`(?m)^auth0_worker_commands_total\{command="users.create",outcome="ok",transport="svc"\} [1-9]`).MatchString(body) {
		t.Errorf("no successful request-reply create according to /metrics")
	}
}

// metricHasLabels reports whether a sample of name carries exactly labels.
func metricHasLabels(body, name string, labels []string) bool {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		var got []string
		if strings.HasPrefix(rest, "{") {
			for _, kv := range strings.Split(rest[1:strings.Index(rest, "}")], ",") {
				k, _, _ := strings.Cut(kv, "=")
				got = append(got, k)
			}
		}
		slices.Sort(got)
		w := slices.Clone(labels)
		slices.Sort(w)
		if slices.Equal(got, w) {
			return true
		}
	}
	return false
}

// startDev starts auth0-dev in an empty directory and returns its NATS URL once
// the worker's command service answers.
func startDev(t *testing.T) (string, *testproc.Process) {
	t.Helper()
	p := testproc.Start(t, t.TempDir(), nil)
	t.Cleanup(func() { // before startWorker's SIGKILL: let dev stop what it started
		if p.Cmd.ProcessState == nil && p.Cmd.Process.Signal(syscall.SIGINT) == nil {
			done := make(chan struct{})
			go func() { _ = p.Cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
	})
	var url string
	testwait.For(t, 20*time.Second, "the NATS URL in the banner", func() bool {
		if m := natsURLLine.FindStringSubmatch(p.Out.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	return url, p
}
