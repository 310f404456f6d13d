// Command auth0-dev is the zero-set-up demo: an embedded NATS server with
// JetStream, Redis (redis-server from PATH, else in-process), the Auth0
// emulator with seeded users and a trickle of sign-ups, and the full worker,
// printing each published event. `go run ./cmd/auth0-dev`; see README.md.
//
// It is its own command so that the production binary, cmd/auth0-worker,
// links none of these servers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/auth0-worker/auth0-worker/cmd/internal/workercmd"
	"github.com/auth0-worker/auth0-worker/config"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/tick"
)

func main() {
	ctx, stop := workercmd.SignalContext(os.Stderr)
	err := runDev(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(workercmd.ExitCode("auth0-dev", err, os.Stderr))
}

// devDir is where `dev` keeps NATS and Redis data, relative to the working
// directory, so a second `dev` run resumes where the first stopped.
const devDir = ".dev"

// devTrickle is how often `dev` creates a new user in the emulator.
var devTrickle = 5 * time.Second

// devHookToken is the bearer token of the worker's event receiver. A demo:
// the emulator is the only sender.
const devHookToken = emulator.DefaultClientSecret + "-webhook"

// runDev is the demo: embedded NATS, a Redis-protocol store, the
// emulator with seeded users and a slow trickle of new ones, and the full
// worker, printing each published event and ready-to-paste nats commands.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Logging settings come from the environment; everything else is ours.
	pre, err := config.Load(args, os.LookupEnv, 0)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprintln(stdout, "usage: auth0-dev — embedded NATS, Redis, Auth0 emulator and the worker; data under ./.dev/")
		return nil
	}
	if err != nil {
		return workercmd.WithExitCode(2, err)
	}
	log := workercmd.NewLogger(stderr, pre.LogLevel, pre.LogFormat, pre.NoColor)
	dir, err := devDataDir()
	if err != nil {
		return err
	}

	ns, err := devNATS(dir, log)
	if err != nil {
		return err
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()

	redisURL, stopRedis, err := devRedis(dir, log)
	if err != nil {
		return err
	}
	defer stopRedis()

	emu, emuURL, stopEmu, err := devEmulator(log)
	if err != nil {
		return err
	}
	defer stopEmu()

	st := devStack{natsURL: ns.ClientURL(), redisURL: redisURL, emu: emu, emuURL: emuURL}
	st.httpAddr, st.hookAddr = devWorkerAddrs()
	cfg, err := config.Load(args, devLookup(st.env()), config.NeedAuth0)
	if err != nil {
		return workercmd.WithExitCode(2, err)
	}
	return workercmd.Serve(ctx, cfg, log, st.started(ctx, cfg, log, stdout))
}

// devDataDir is devDir made absolute, created if missing.
func devDataDir() (string, error) {
	dir, err := filepath.Abs(devDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("dev: %w", err)
	}
	return dir, nil
}

// devEmulator serves the emulator with its seeded users on 127.0.0.1:8081,
// or a free port when that is taken; stop closes its server.
func devEmulator(log *slog.Logger) (emu *emulator.Emulator, url string, stop func(), err error) {
	emu = emulator.New(emulator.Config{Knobs: emulator.Knobs{IndexLag: 500 * time.Millisecond}})
	ln, err := listenPreferred("127.0.0.1:8081")
	if err != nil {
		return nil, "", nil, fmt.Errorf("dev: emulator: %w", err)
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	seedDevUsers(emu, log)
	return emu, "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// devWorkerAddrs are the addresses of the worker's HTTP server and event
// receiver: the usual ports, or free ones when those are taken.
func devWorkerAddrs() (httpAddr, hookAddr string) {
	httpAddr = "127.0.0.1:8080"
	if !portFreeAddr(httpAddr) {
		httpAddr = "127.0.0.1:0"
	}
	hookAddr = "127.0.0.1:8443"
	if !portFreeAddr(hookAddr) {
		hookAddr = freeAddr()
	}
	return httpAddr, hookAddr
}

// devStack is what runDev started, as the worker's settings and the
// banner need it.
type devStack struct {
	natsURL, redisURL  string
	emu                *emulator.Emulator
	emuURL             string
	httpAddr, hookAddr string // the worker's HTTP server and event receiver
}

// env is the worker's settings that point it at the stack.
func (st devStack) env() map[string]string {
	return map[string]string{
		"AUTH0_DOMAIN":         st.emuURL,
		"AUTH0_CLIENT_ID":      emulator.DefaultClientID,
		"AUTH0_CLIENT_SECRET":  emulator.DefaultClientSecret,
		"NATS_URL":             st.natsURL,
		"REDIS_URL":            st.redisURL,
		"HTTP_ADDR":            st.httpAddr,
		"AUTH0_API_CALL_ALLOW": "GET /users*,GET /users-by-email*",
		"POLL_OVERLAP":         "10s",
		"RECONCILE_INTERVAL":   "1m",
		"LEASE_TTL":            "3s",
		// The whole life cycle, over SSE and from the emulator's event
		// stream posting to the receiver (README "User life cycle").
		"EVENT_TYPES":          "user.created,user.updated,user.deleted",
		"WEBHOOK_ADDR":         st.hookAddr,
		"WEBHOOK_BEARER_TOKEN": devHookToken,
	}
}

// devLookup is the worker's environment: overlay over the process's, less
// any of a real tenant's or bus's settings.
func devLookup(overlay map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		if v, ok := overlay[k]; ok {
			return v, true
		}
		if len(k) > 5 && (k[:5] == "AUTH0" || k[:5] == "NATS_" || k[:5] == "REDIS" || k[:5] == "WEBHO") {
			return "", false // dev never mixes in a real tenant's or bus's settings
		}
		return os.LookupEnv(k)
	}
}

// started is what runs once the worker is up: print the events it stores,
// point an emulator event stream at its receiver, print the banner and
// start the sign-ups.
func (st devStack) started(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) func(workercmd.Running) {
	return func(w workercmd.Running) {
		if err := printStoredEvents(ctx, w, stdout); err != nil {
			log.Error("dev: read the users stream", "err", err)
		}
		if _, err := st.emu.CreateEventStream(emulator.EventStreamConfig{
			Name: "auth0-dev", Subscriptions: cfg.Events.Types, WebhookEndpoint: "http://" + st.hookAddr + "/auth0/events",
			WebhookAuthorization: emulator.WebhookAuthorization{Method: "bearer", Token: devHookToken},
		}); err != nil {
			log.Error("dev: emulator event stream", "err", err)
		}
		printDevBanner(stdout, st.natsURL, st.emuURL, w, st.hookAddr)
		go trickleDevUsers(ctx, st.emu, log)
	}
}

func listenPreferred(addr string) (net.Listener, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		return ln, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// freeAddr is a loopback address free right now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func portFreeAddr(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

var devUserSeq atomic.Int64

func seedDevUsers(emu *emulator.Emulator, log *slog.Logger) {
	base := time.Now().Add(-time.Hour).UTC()
	names := []string{"ada", "grace", "alan", "edsger", "barbara"}
	seed := make([]emulator.SeedUser, len(names))
	for i, n := range names {
		// Fixed ids so the README's examples work as printed.
		seed[i] = emulator.SeedUser{UserID: fmt.Sprintf("auth0|%024x", 0xa1+i), Email: n + "@example.com",
			CreatedAt: base.Add(time.Duration(i) * time.Minute),
			Fields:    map[string]any{"name": n, "email_verified": true}, NoEvent: true, Indexed: true}
	}
	if _, err := emu.CreateUsers(seed); err != nil {
		log.Warn("dev: seeding users", "err", err)
	}
}

// trickleDevUsers signs up a new user every devTrickle, the first one soon,
// so a newcomer sees an event within seconds.
func trickleDevUsers(ctx context.Context, emu *emulator.Emulator, log *slog.Logger) {
	tick.Every(ctx, time.Second, devTrickle, func() bool {
		n := devUserSeq.Add(1)
		email := "signup-" + strconv.FormatInt(time.Now().Unix(), 10) + "-" + strconv.FormatInt(n, 10) + "@example.com"
		if _, err := emu.CreateUsers([]emulator.SeedUser{{Email: email, CreatedAt: time.Now()}}); err != nil && !errors.Is(err, emulator.ErrUserExists) {
			log.Warn("dev: trickle user", "err", err)
		}
		return true
	})
}

// printStoredEvents prints each event the users stream stores from now on.
// It reads the stream, not the subject: with two sources (SSE and the
// receiver) the same event may be published twice, and a core subscription
// would also see the copy JetStream dropped by its Nats-Msg-Id.
func printStoredEvents(ctx context.Context, w workercmd.Running, out io.Writer) error {
	js, err := jetstream.New(w.NC)
	if err != nil {
		return err
	}
	cons, err := js.OrderedConsumer(ctx, w.Names.Users, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{w.Names.Prefix + ".users.>"}, DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { printDevEvent(out, m.Subject(), m.Data()) })
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, cc.Stop)
	return nil
}

func printDevEvent(w io.Writer, subject string, data []byte) {
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Time string `json:"time"`
		Data struct {
			Email string `json:"email"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		fmt.Fprintf(w, "event on %s (undecodable: %v)\n", subject, err)
		return
	}
	fmt.Fprintf(w, "event %s  %s  %s  %s\n", subject, strings.TrimPrefix(ev.Type, "com.auth0."), ev.ID, ev.Data.Email)
}

func printDevBanner(w io.Writer, natsURL, emuURL string, wk workercmd.Running, hookAddr string) {
	p := wk.Names.Prefix
	fmt.Fprintf(w, `
auth0-dev is running.
  NATS        %[1]s   (JetStream data in ./.dev/nats)
  emulator    %[2]s   (client %[3]s / %[4]s)
  HTTP        http://%[5]s   (/healthz /readyz /metrics)
A new user signs up every %[6]s; each published event (created, updated, deleted: over SSE
and from the emulator's event stream to the receiver on %[9]s) is printed below.

Try (natscli: go install github.com/nats-io/natscli/nats@v0.5.0):
  nats -s %[1]s sub '%[7]s.users.>'
  nats -s %[1]s stream view %[8]s
  nats -s %[1]s micro ls
  nats -s %[1]s req %[7]s.svc.users.create '{"connection":"Username-Password-Authentication","email":"new@example.com","password":"Passw0rd!"}'
  nats -s %[1]s req %[7]s.svc.users.search '{"query":"email:a*","limit":5}'
  nats -s %[1]s req %[7]s.svc.users.search_by_email '{"email":"ada@example.com"}'
  nats -s %[1]s req %[7]s.svc.users.update '{"user_id":"auth0|0000000000000000000000a1","user_metadata":{"plan":"pro"}}'
  nats -s %[1]s req %[7]s.svc.users.delete '{"user_id":"auth0|0000000000000000000000a5"}'
  nats -s %[1]s req %[7]s.svc.api.call '{"method":"GET","path":"/users","query":{"q":"name:ada"}}'
  nats -s %[1]s pub %[7]s.cmd.users.create '{"connection":"Username-Password-Authentication","email":"durable@example.com","password":"Passw0rd!"}' -H Nats-Msg-Id:cmd-1
  nats -s %[1]s sub '%[7]s.results.>'

`, natsURL, emuURL, emulator.DefaultClientID, emulator.DefaultClientSecret, wk.HTTPAddr, devTrickle, p, wk.Names.Users, hookAddr)
}
