package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/auth0-worker/auth0-worker/config"
)

type composeFile struct {
	Services map[string]struct {
		Build       any               `yaml:"build"`
		Image       string            `yaml:"image"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Volumes     []string `yaml:"volumes"`
		NetworkMode string   `yaml:"network_mode"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile { return loadComposeFile(t, "../docker-compose.yml") }

func loadComposeFile(t *testing.T, path string) composeFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// The scale-out stack: three JetStream nodes routed to each other, Redis
// behind three Sentinels, two workers whose environment the worker accepts,
// with every stream at 3 replicas.
func TestClusterCompose(t *testing.T) {
	c := loadComposeFile(t, "compose/cluster.yml")
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		cmd := strings.Join(c.Services[n].Command, " ")
		if !strings.Contains(cmd, "-js -sd /data") || !strings.Contains(cmd, "--routes") || !strings.Contains(cmd, "--cluster_name auth0") {
			t.Errorf("%s is not a clustered JetStream node: %s", n, cmd)
		}
	}
	for _, n := range []string{"sentinel-1", "sentinel-2", "sentinel-3"} {
		if !strings.Contains(strings.Join(c.Services[n].Command, " "), "--sentinel") {
			t.Errorf("%s does not run redis-server --sentinel", n)
		}
	}
	for _, n := range []string{"worker-1", "worker-2"} {
		env := c.Services[n].Environment
		cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, config.NeedAuth0)
		if err != nil {
			t.Fatalf("%s: the environment is refused by config: %v", n, err)
		}
		if cfg.NATS.StreamReplicas != 3 || len(cfg.NATS.Servers) != 3 || cfg.Redis.Mode != config.RedisSentinel || len(cfg.Redis.SentinelAddrs) != 3 {
			t.Errorf("%s: replicas %d, %d NATS servers, Redis %s with %d sentinels", n, cfg.NATS.StreamReplicas, len(cfg.NATS.Servers), cfg.Redis.Mode, len(cfg.Redis.SentinelAddrs))
		}
	}
	if a, b := c.Services["worker-1"].Environment["HTTP_ADDR"], c.Services["worker-2"].Environment["HTTP_ADDR"]; a == b {
		t.Errorf("both workers listen on %s in the emulator's network namespace", a)
	}
}

func TestComposeStack(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"nats", "redis", "auth0-emulator", "auth0-worker"} {
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("service %s missing", name)
		}
		if len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s: no exec-form healthcheck", name)
		}
	}
	w := c.Services["auth0-worker"]
	for _, dep := range []string{"nats", "redis", "auth0-emulator"} {
		if w.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("auth0-worker does not wait for %s to be healthy", dep)
		}
	}
	if !strings.Contains(strings.Join(w.Healthcheck.Test, " "), "/readyz") {
		t.Errorf("auth0-worker healthcheck is not /readyz: %v", w.Healthcheck.Test)
	}
	if w.Environment["AUTH0_DOMAIN"] != "http://127.0.0.1:8081" || w.NetworkMode != "service:auth0-emulator" {
		t.Errorf("the worker does not point at the emulator by default: AUTH0_DOMAIN=%q network_mode=%q", w.Environment["AUTH0_DOMAIN"], w.NetworkMode)
	}
	// The worker's environment is a configuration the worker accepts.
	if _, err := config.Load(nil, func(k string) (string, bool) { v, ok := w.Environment[k]; return v, ok }, config.NeedAuth0); err != nil {
		t.Errorf("the compose worker's environment is refused by config: %v", err)
	}
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name], known[v.Name+"_FILE"] = true, v.HasFile
	}
	for k := range w.Environment {
		if !known[k] {
			t.Errorf("the compose worker sets %s, which the worker does not read", k)
		}
	}
	// The worker and the emulator come from the one Dockerfile.
	for _, n := range []string{"auth0-worker", "auth0-emulator"} {
		if c.Services[n].Build == nil {
			t.Errorf("%s is not built from the Dockerfile", n)
		}
	}
	if e := c.Services["auth0-emulator"].Entrypoint; len(e) == 0 || !strings.HasSuffix(e[0], "/auth0-emulator") {
		t.Errorf("auth0-emulator entrypoint %v", e)
	}
	// Persistent data: JetStream file store and Redis AOF on named volumes.
	if !strings.Contains(strings.Join(c.Services["nats"].Command, " "), "-js -sd /data") || !slices.Contains(c.Services["nats"].Volumes, "nats-data:/data") {
		t.Errorf("nats: JetStream store not on the data volume: %v %v", c.Services["nats"].Command, c.Services["nats"].Volumes)
	}
	if !strings.Contains(strings.Join(c.Services["redis"].Command, " "), "--appendonly yes") || !slices.Contains(c.Services["redis"].Volumes, "redis-data:/data") {
		t.Errorf("redis: AOF not on the data volume")
	}
}

// The emulator's command line in the compose file uses only flags that
// cmd/auth0-emulator defines.
func TestComposeEmulatorFlagsExist(t *testing.T) {
	src, err := os.ReadFile("../cmd/auth0-emulator/main.go")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`fs\.\w*Var\([^,]+,\s*"([a-z0-9-]+)"`).FindAllStringSubmatch(string(src), -1) {
		defined[m[1]] = true
	}
	if !defined["addr"] {
		t.Fatalf("could not read the emulator's flags (found %v)", defined)
	}
	args := loadCompose(t).Services["auth0-emulator"].Command
	if len(args) == 0 {
		t.Fatal("auth0-emulator has no command")
	}
	for _, a := range args {
		name := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		if !strings.HasPrefix(a, "-") || !defined[name] {
			t.Errorf("auth0-emulator argument %q is not a flag of cmd/auth0-emulator", a)
		}
		if name == "addr" && !strings.HasPrefix(strings.SplitN(a, "=", 2)[1], "0.0.0.0:") {
			t.Errorf("the emulator must listen on all interfaces inside its container: %q", a)
		}
	}
}

// The Dockerfile builds both binaries with the release flags, statically,
// and runs them as a non-root user.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	for _, cmd := range []string{"auth0-worker", "auth0-emulator"} {
		line := `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/` + cmd + ` ./cmd/` + cmd
		if !strings.Contains(df, line) {
			t.Errorf("Dockerfile lacks %q", line)
		}
	}
	stages := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(df, -1)
	if len(stages) < 2 {
		t.Fatal("Dockerfile is not multi-stage")
	}
	final := df[stages[len(stages)-1][0]:]
	m := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if m == nil || strings.HasPrefix(m[1], "root") || strings.HasPrefix(m[1], "0") {
		t.Errorf("final stage does not run as a non-root user: %v", m)
	}
}
