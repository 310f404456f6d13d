package auth0_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/auth0"
	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/emulator/emulatortest"
	"github.com/auth0-worker/auth0-worker/internal/contract"
	"github.com/auth0-worker/auth0-worker/internal/testkit"
)

// specValidator is the shared OpenAPI validator (internal/contract).
func specValidator(t testing.TB) *contract.Validator { return contract.Load(t) }

// exchange is one request/response pair seen by the recording transport.
type exchange struct {
	Method, Path, Query string
	Status              int
	Header              http.Header
	Sent, Answered      time.Time
}

// contractTransport validates every /api/v2 request against the OpenAPI
// subset (the test fails at cleanup on any violation) and records every
// exchange.
type contractTransport struct {
	t    testing.TB
	v    *contract.Validator
	base http.RoundTripper

	mu         sync.Mutex
	violations []string
	log        []exchange
}

func newContractTransport(t testing.TB) *contractTransport {
	ct := &contractTransport{t: t, v: specValidator(t), base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(func() {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		for _, v := range ct.violations {
			t.Errorf("request violates the OpenAPI subset: %s", v)
		}
	})
	return ct
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/api/v2/") {
		if err := ct.v.ValidateRequest(req); err != nil {
			ct.mu.Lock()
			ct.violations = append(ct.violations, fmt.Sprintf("%s %s?%s: %v", req.Method, req.URL.EscapedPath(), req.URL.RawQuery, err))
			ct.mu.Unlock()
		}
	}
	sent := time.Now()
	resp, err := ct.base.RoundTrip(req)
	ex := exchange{Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery, Sent: sent, Answered: time.Now()}
	if resp != nil {
		ex.Status, ex.Header = resp.StatusCode, resp.Header.Clone()
	}
	ct.mu.Lock()
	ct.log = append(ct.log, ex)
	ct.mu.Unlock()
	return resp, err
}

func (ct *contractTransport) exchanges() []exchange {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return append([]exchange(nil), ct.log...)
}

// testEnv is an emulator plus a client wired through the contract transport.
type testEnv struct {
	srv *emulatortest.Server
	emu *emulator.Emulator
	ct  *contractTransport
	c   *auth0.Client
}

func newEnv(t testing.TB, ecfg emulator.Config, mod func(*auth0.Config), opts ...emulatortest.ServerOption) *testEnv {
	t.Helper()
	srv := testkit.Emulator(t, ecfg, opts...)
	ct := newContractTransport(t)
	ct.base = srv.Transport()
	c := testkit.Auth0Client(t, srv, func(cfg *auth0.Config) {
		cfg.HTTPClient = &http.Client{Transport: ct}
		cfg.APICallAllow = []string{"GET /users*", "POST /users", "PATCH /users/*"}
		if mod != nil {
			mod(cfg)
		}
	})
	return &testEnv{srv: srv, emu: srv.Emulator, ct: ct, c: c}
}

// requests returns the emulator's log entries for method and path prefix.
func (e *testEnv) requests(method, pathPrefix string) []emulator.LoggedRequest {
	var out []emulator.LoggedRequest
	for _, r := range e.emu.Requests() {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			out = append(out, r)
		}
	}
	return out
}

// countingObserver counts attempts by op and status.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
	onResp func(op string, status int)
}

func (o *countingObserver) Request(op string, status int) {
	o.mu.Lock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[fmt.Sprintf("%s %d", op, status)]++
	f := o.onResp
	o.mu.Unlock()
	if f != nil {
		f(op, status)
	}
}

func (o *countingObserver) RateLimit(int) {}

func (o *countingObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[key]
}
