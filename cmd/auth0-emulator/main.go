// Command auth0-emulator serves an emulated Auth0 tenant (Management API
// users + Events API, /oauth/token, admin surface under /emulator/) for
// local development, demos and the docker-compose stack.
//
// Every flag has an environment variable AUTH0_EMULATOR_<FLAG> (upper case,
// '-' → '_'); a flag given on the command line wins. Clients come from
// repeated --client id:secret[:scope,scope...] or AUTH0_EMULATOR_CLIENTS
// (entries separated by ';' or spaces), connections from repeated
// --connection name[:strategy] or AUTH0_EMULATOR_CONNECTIONS (separated by
// ',', ';' or spaces). Secrets are never logged.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lmittmann/tint"

	"github.com/auth0-worker/auth0-worker/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

// options is the parsed command line.
type options struct {
	addr      string
	logLevel  string
	logFormat string
	seedUsers int
	cfg       emulator.Config
	stream    streamOptions
}

// connectionList is the repeatable --connection flag: name[:strategy].
type connectionList []emulator.Connection

func (c *connectionList) String() string {
	names := make([]string, len(*c))
	for i, cn := range *c {
		names[i] = cn.Name
	}
	return strings.Join(names, ",")
}

func (c *connectionList) Set(v string) error {
	for _, entry := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t' }) {
		name, strategy, _ := strings.Cut(entry, ":")
		if name == "" || strings.Contains(entry, "|") {
			return fmt.Errorf("want name or name:strategy (e.g. Other-DB, passwordless:email, google-oauth2:google-oauth2); got %q", entry)
		}
		*c = append(*c, emulator.Connection{Name: name, Strategy: strategy})
	}
	return nil
}

// clientList is the repeatable --client flag.
type clientList []emulator.ClientCredentials

func (c *clientList) String() string {
	ids := make([]string, len(*c))
	for i, cl := range *c {
		ids[i] = cl.ID // never the secret
	}
	return strings.Join(ids, ",")
}

func (c *clientList) Set(v string) error {
	for _, entry := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' || r == '\n' || r == '\t' }) {
		cl, err := parseClient(entry)
		if err != nil {
			return err
		}
		*c = append(*c, cl)
	}
	return nil
}

// parseClient parses id:secret[:scope1,scope2].
func parseClient(s string) (emulator.ClientCredentials, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return emulator.ClientCredentials{}, errors.New("want id:secret or id:secret:scope1,scope2 (e.g. my-app:my-secret:read:users,read:events)")
	}
	cl := emulator.ClientCredentials{ID: parts[0], Secret: parts[1]}
	if len(parts) == 3 && parts[2] != "" {
		// Scopes contain ':' themselves (read:users); the third part is the
		// rest of the string, split on ','.
		known := map[string]bool{}
		for _, s := range emulator.AllScopes {
			known[s] = true
		}
		for _, sc := range strings.Split(parts[2], ",") {
			sc = strings.TrimSpace(sc)
			if !known[sc] {
				return emulator.ClientCredentials{}, fmt.Errorf("unknown scope %q for client %q (known: %s)", sc, cl.ID, strings.Join(emulator.AllScopes, ","))
			}
			cl.Scopes = append(cl.Scopes, sc)
		}
	}
	return cl, nil
}

// parseArgs reads the command line, then the environment for every flag the
// command line left out, then checks the result.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("auth0-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindTenantFlags(fs, o)
	bindKnobFlags(fs, &o.cfg.Knobs)
	eventStreamFlags(fs, &o.cfg.EventStreamDefaults, &o.stream)
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "auto", "auto, text or json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return nil, err
	}
	return o, validate(o)
}

// bindTenantFlags binds what the tenant is: its address, clients, users and
// connections.
func bindTenantFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8081", "listen address")
	fs.Var((*clientList)(&o.cfg.Clients), "client", "client id:secret[:scope,scope] (repeatable; default "+emulator.DefaultClientID+" with every scope)")
	fs.DurationVar(&o.cfg.TokenLifetime, "token-lifetime", 24*time.Hour, "lifetime of issued access tokens")
	fs.IntVar(&o.seedUsers, "seed-users", 0, "number of users to create at start (already indexed, no events)")
	fs.Int64Var(&o.cfg.Seed, "seed", 0, "seed of the emulator's randomness (0 = random)")
	fs.IntVar(&o.cfg.RequestLogMax, "request-log-max", 100_000, "entries kept in the request log (GET /emulator/requests)")
	fs.Var((*connectionList)(&o.cfg.Connections), "connection", "connection name[:strategy] besides "+emulator.DefaultConnection+" (repeatable or comma-separated; strategy auth0 (database, default), email, sms or a social provider)")
}

// bindKnobFlags binds how the tenant behaves: lags, limits, faults and the
// Events API's quirks.
func bindKnobFlags(fs *flag.FlagSet, k *emulator.Knobs) {
	fs.DurationVar(&k.IndexLag, "index-lag", 0, "search index lag of a new or changed user")
	fs.DurationVar(&k.IndexLagMax, "index-lag-max", 0, "when > index-lag, each change's lag is uniform in [index-lag, index-lag-max]")
	fs.Float64Var(&k.RateLimit, "rate-limit", 0, "token bucket refill in requests/s for /api/v2 (0 = unlimited)")
	fs.IntVar(&k.RateBurst, "rate-burst", 0, "token bucket size (default ceil(rate-limit))")
	fs.Float64Var(&k.RetryAfterProbability, "retry-after-probability", 0, "probability that a 429 carries Retry-After")
	fs.Float64Var(&k.FaultRate, "fault-rate", 0, "probability that an /api/v2 request answers 503 without effect")
	fs.DurationVar(&k.Latency, "latency", 0, "latency added to every /api/v2 and /oauth/token answer")
	fs.DurationVar(&k.LatencyAfter, "latency-after", 0, "delay of an /api/v2 answer after its change was applied (lost-reply tests)")
	fs.Float64Var(&k.FaultAfterRate, "fault-after-rate", 0, "probability that an /api/v2 request is applied and then answered 503")
	fs.DurationVar(&k.EventsCycle, "events-cycle", 0, "close every SSE connection after this long (0 = never)")
	fs.Float64Var(&k.EventsRedeliver, "events-redeliver", 0, "probability of re-delivering an event on a resumed SSE connection")
	fs.DurationVar(&k.EventsRetention, "events-retention", 0, "offsets older than this answer 410 (0 = forever)")
	fs.IntVar(&k.EventsMaxConnections, "events-max-connections", 0, "concurrent SSE connection limit (0 = unlimited)")
	fs.DurationVar(&k.EventsHeartbeat, "events-heartbeat", 0, "interval of offset-only messages and heartbeats (default 1s)")
	fs.DurationVar(&k.EventsRetry, "events-retry", 0, "retry: value sent on connect (default 1s)")
	fs.BoolVar(&k.EventsDisabled, "events-disabled", false, "answer 404 on /api/v2/events (a plan without the Events API)")
	fs.DurationVar(&k.EventsErrorAfter, "events-error-after", 0, "end every SSE connection after this long with event: error (events-error-code) and its offset (0 = never)")
	fs.StringVar(&k.EventsErrorCode, "events-error-code", emulator.EventsErrorTimeout, "code of that error: timeout or connection_timeout")
	fs.StringVar(&k.PasswordPolicy, "password-policy", emulator.PolicyNone, "password policy of database connections: "+strings.Join(emulator.PasswordPolicies, ", "))
	fs.Float64Var(&k.TokenRateLimit, "token-rate-limit", 0, "token bucket refill in requests/s for /oauth/token (0 = unlimited)")
	fs.IntVar(&k.TokenRateBurst, "token-rate-burst", 0, "its size (default ceil(token-rate-limit))")
	fs.DurationVar(&k.SearchDuration, "search-duration", 0, "how long every GET /users takes to run")
	fs.DurationVar(&k.SearchTimeout, "search-timeout", 0, "a search running longer answers 503 once this has passed (default 2s, Auth0's limit)")
}

// applyEnv sets every flag not given on the command line from its variable
// (flagEnv); an error names the variable and never shows a secret.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := flagEnv(f.Name)
		v := getenv(name)
		if given[f.Name] || v == "" || envErr != nil {
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErr = fmt.Errorf("%s=%q: %v", name, redactClients(f.Name, v), err)
		}
	})
	return envErr
}

// flagEnv is the variable of a flag: envName, but plural for the two list
// flags.
func flagEnv(flagName string) string {
	switch flagName {
	case "client":
		return "AUTH0_EMULATOR_CLIENTS"
	case "connection":
		return "AUTH0_EMULATOR_CONNECTIONS"
	}
	return envName(flagName)
}

func redactClients(flagName, v string) string {
	if !secretFlags[flagName] {
		return v
	}
	return "[redacted]"
}

func envName(flagName string) string {
	return "AUTH0_EMULATOR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// validate checks every option, one named step per group, and returns the
// first problem (flag, variable, what was wrong).
func validate(o *options) error {
	for _, step := range []func(*options) error{validateKnobRanges, validateKnobLimits, validateStreams, validateClients, validateLogging} {
		if err := step(o); err != nil {
			return err
		}
	}
	return nil
}

// validateKnobRanges: probabilities in [0, 1], durations not negative.
func validateKnobRanges(o *options) error {
	k := o.cfg.Knobs
	prob := func(name string, p float64) error {
		if p < 0 || p > 1 {
			return fmt.Errorf("--%s (%s) must be between 0 and 1, e.g. 0.2; got %v", name, envName(name), p)
		}
		return nil
	}
	nonNeg := func(name string, d time.Duration) error {
		if d < 0 {
			return fmt.Errorf("--%s (%s) must not be negative, e.g. 2s; got %v", name, envName(name), d)
		}
		return nil
	}
	checks := []error{
		prob("retry-after-probability", k.RetryAfterProbability),
		prob("fault-rate", k.FaultRate),
		prob("events-redeliver", k.EventsRedeliver),
		prob("fault-after-rate", k.FaultAfterRate),
		nonNeg("index-lag", k.IndexLag), nonNeg("index-lag-max", k.IndexLagMax), nonNeg("latency", k.Latency), nonNeg("latency-after", k.LatencyAfter),
		nonNeg("events-cycle", k.EventsCycle), nonNeg("events-retention", k.EventsRetention),
		nonNeg("events-heartbeat", k.EventsHeartbeat), nonNeg("events-retry", k.EventsRetry),
		nonNeg("events-error-after", k.EventsErrorAfter), nonNeg("search-duration", k.SearchDuration), nonNeg("search-timeout", k.SearchTimeout),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// validateKnobLimits: rates, counts, policies and the token lifetime.
func validateKnobLimits(o *options) error {
	k := o.cfg.Knobs
	switch {
	case k.RateLimit < 0:
		return fmt.Errorf("--rate-limit (AUTH0_EMULATOR_RATE_LIMIT) must not be negative, e.g. 10; got %v", k.RateLimit)
	case k.RateBurst < 0:
		return fmt.Errorf("--rate-burst (AUTH0_EMULATOR_RATE_BURST) must not be negative, e.g. 20; got %d", k.RateBurst)
	case k.TokenRateLimit < 0 || k.TokenRateBurst < 0:
		return fmt.Errorf("--token-rate-limit and --token-rate-burst (AUTH0_EMULATOR_TOKEN_RATE_LIMIT, _BURST) must not be negative, e.g. 5 and 10; got %v and %d", k.TokenRateLimit, k.TokenRateBurst)
	case !slices.Contains(emulator.PasswordPolicies, k.PasswordPolicy):
		return fmt.Errorf("--password-policy (AUTH0_EMULATOR_PASSWORD_POLICY) must be one of %s; got %q", strings.Join(emulator.PasswordPolicies, ", "), k.PasswordPolicy)
	case k.EventsErrorCode != emulator.EventsErrorTimeout && k.EventsErrorCode != emulator.EventsErrorConnectionTimeout:
		return fmt.Errorf("--events-error-code (AUTH0_EMULATOR_EVENTS_ERROR_CODE) must be %s or %s; got %q", emulator.EventsErrorTimeout, emulator.EventsErrorConnectionTimeout, k.EventsErrorCode)
	case k.EventsMaxConnections < 0:
		return fmt.Errorf("--events-max-connections (AUTH0_EMULATOR_EVENTS_MAX_CONNECTIONS) must not be negative, e.g. 4; got %d", k.EventsMaxConnections)
	case o.seedUsers < 0:
		return fmt.Errorf("--seed-users (AUTH0_EMULATOR_SEED_USERS) must not be negative, e.g. 100; got %d", o.seedUsers)
	case o.cfg.TokenLifetime <= 0:
		return fmt.Errorf("--token-lifetime (AUTH0_EMULATOR_TOKEN_LIFETIME) must be positive, e.g. 24h; got %v", o.cfg.TokenLifetime)
	}
	return nil
}

// validateStreams: the Event Streams defaults and the --stream option.
func validateStreams(o *options) error {
	if err := o.cfg.EventStreamDefaults.Check(); err != nil {
		return fmt.Errorf("--webhook-* (AUTH0_EMULATOR_WEBHOOK_*): %v", err)
	}
	_, _, err := o.stream.config()
	return err
}

// validateClients: client ids are unique.
func validateClients(o *options) error {
	seen := map[string]bool{}
	for _, c := range o.cfg.Clients {
		if seen[c.ID] {
			return fmt.Errorf("--client (AUTH0_EMULATOR_CLIENTS): client id %q given twice", c.ID)
		}
		seen[c.ID] = true
	}
	return nil
}

// validateLogging: --log-level and --log-format.
func validateLogging(o *options) error {
	switch o.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level (AUTH0_EMULATOR_LOG_LEVEL) must be debug, info, warn or error; got %q", o.logLevel)
	}
	switch o.logFormat {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("--log-format (AUTH0_EMULATOR_LOG_FORMAT) must be auto, text or json; got %q", o.logFormat)
	}
	return nil
}

func newLogger(o *options, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel))
	format := o.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && os.Getenv("NO_COLOR") == "" {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "tint"
			}
		}
	}
	switch format {
	case "tint":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly}))
	case "text":
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// seedUsers creates n users created over the last n seconds.
func seedUsers(e *emulator.Emulator, n int) error {
	now := time.Now().UTC()
	users := make([]emulator.SeedUser, n)
	for i := range users {
		users[i] = emulator.SeedUser{
			Email:     fmt.Sprintf("user%05d@example.com", i+1),
			CreatedAt: now.Add(-time.Duration(n-i) * time.Second),
			Fields:    map[string]any{"given_name": "User", "family_name": fmt.Sprintf("%05d", i+1)},
			NoEvent:   true,
			Indexed:   true,
		}
	}
	_, err := e.CreateUsers(users)
	return err
}

// statusWriter captures the status for the access log; it passes Flush
// through so SSE streams are not buffered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		// Path and status only: never headers (tokens) or bodies (secrets).
		log.Debug("request", "method", r.Method, "path", r.URL.EscapedPath(), "status", sw.status, "duration", time.Since(start))
	})
}

// run is main without the process: it returns the exit code. ready, if
// set, is called with the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) int {
	o, err := parseArgs(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "auth0-emulator: %v\n", err)
		return 2
	}
	log := newLogger(o, stderr)
	e := emulator.New(o.cfg)
	if !populate(e, o, log) {
		return 1
	}
	defer e.Close() // stops webhook deliveries
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(stderr, "auth0-emulator: --addr (AUTH0_EMULATOR_ADDR) %q: %v\n", o.addr, err)
		return 2
	}
	logListening(log, o, e, ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	return serveUntilDone(ctx, e, ln, log)
}

// populate seeds --seed-users and creates the --event-stream-* stream, if
// asked; it logs what failed and says whether all went well.
func populate(e *emulator.Emulator, o *options, log *slog.Logger) bool {
	if o.seedUsers > 0 {
		if err := seedUsers(e, o.seedUsers); err != nil {
			log.Error("seed users", "err", err)
			return false
		}
	}
	if cfg, ok, _ := o.stream.config(); ok {
		id, err := e.CreateEventStream(cfg)
		if err != nil {
			log.Error("create event stream", "err", err)
			return false
		}
		log.Info("event stream delivering", "id", id, "endpoints", cfg.WebhookEndpoint+" "+strings.Join(cfg.WebhookEndpoints, " "), "types", cfg.Subscriptions)
	}
	return true
}

// logListening says where the tenant is and how it is set up; client ids
// only, and the secret only of the documented default client.
func logListening(log *slog.Logger, o *options, e *emulator.Emulator, addr string) {
	clientIDs := make([]string, 0, len(o.cfg.Clients))
	for _, c := range o.cfg.Clients {
		clientIDs = append(clientIDs, c.ID)
	}
	if len(clientIDs) == 0 {
		clientIDs = []string{emulator.DefaultClientID + " (secret " + emulator.DefaultClientSecret + ", the documented default)"}
	}
	log.Info("auth0 emulator listening",
		"url", "http://"+addr,
		"audience", "http://"+addr+"/api/v2/",
		"clients", strings.Join(clientIDs, ", "),
		"seed_users", o.seedUsers,
		"connections", e.Connections(),
		"knobs", fmt.Sprintf("%+v", o.cfg.Knobs))
}

// serveUntilDone serves e on ln until ctx is done (exit code 0, after a
// graceful shutdown) or serving fails (1).
func serveUntilDone(ctx context.Context, e *emulator.Emulator, ln net.Listener, log *slog.Logger) int {
	srv := &http.Server{Handler: accessLog(log, e), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// SSE streams never end by themselves: drop them first so Shutdown
	// only waits for ordinary requests.
	e.CloseEventStreams()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
		_ = srv.Close()
	}
	log.Info("stopped")
	return 0
}
