package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/internal/pollstart"
)

// secrets appearing in test inputs; no error message may contain them.
var testSecrets = []string{"s3cr3t-VALUE", "filesecret-XYZ", "natspw-123", "natstok-456", "redispw-789", "urlpw-abc", "tokinurl-def"}

type tcase struct {
	v       string            // variable under test
	env     map[string]string // on top of the base env; "" value = set but empty
	flags   []string
	noNeed  bool                // load as for dev (no Auth0 requirement)
	wantErr string              // substring of the error; "" = must succeed
	check   func(*Config) error // for good cases
}

func baseEnv() map[string]string {
	return map[string]string{"AUTH0_DOMAIN": "tenant.eu.auth0.com", "AUTH0_CLIENT_ID": "cid", "AUTH0_CLIENT_SECRET": "s3cr3t-VALUE"}
}

func expect[T comparable](name string, got func(*Config) T, want T) func(*Config) error {
	return func(c *Config) error {
		if g := got(c); g != want {
			return fmt.Errorf("%s = %v, want %v", name, g, want)
		}
		return nil
	}
}

func cases(dir string) []tcase {
	file := func(name string) string { return filepath.Join(dir, name) }
	return []tcase{
		// AUTH0_DOMAIN and derived values
		{v: "AUTH0_DOMAIN", check: func(c *Config) error {
			if c.Auth0.BaseURL != "https://tenant.eu.auth0.com" || c.Auth0.TenantKey != "tenant.eu.auth0.com" ||
				c.Auth0.Audience != "https://tenant.eu.auth0.com/api/v2/" || c.Events.Source != "https://tenant.eu.auth0.com/" {
				return fmt.Errorf("derived: %+v source %q", c.Auth0, c.Events.Source)
			}
			return nil
		}},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "https://Tenant.eu.auth0.com/"}, check: expect("BaseURL", func(c *Config) string { return c.Auth0.BaseURL }, "https://tenant.eu.auth0.com")},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "http://127.0.0.1:8081"}, check: func(c *Config) error {
			if c.Auth0.BaseURL != "http://127.0.0.1:8081" || c.Auth0.TenantKey != "127.0.0.1:8081" || c.Auth0.Audience != "http://127.0.0.1:8081/api/v2/" {
				return fmt.Errorf("derived: %+v", c.Auth0)
			}
			return nil
		}},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "http://localhost:9000"}, check: expect("TenantKey", func(c *Config) string { return c.Auth0.TenantKey }, "localhost:9000")},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "http://[::1]:9000"}, check: expect("TenantKey", func(c *Config) string { return c.Auth0.TenantKey }, "[::1]:9000")},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "tenant.eu.auth0.com:8443"}, check: expect("BaseURL", func(c *Config) string { return c.Auth0.BaseURL }, "https://tenant.eu.auth0.com:8443")},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "http://example.com"}, wantErr: `AUTH0_DOMAIN: "http://example.com": http:// is only allowed for loopback hosts (example: AUTH0_DOMAIN=tenant.eu.auth0.com)`},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "ftp://tenant.eu.auth0.com"}, wantErr: "AUTH0_DOMAIN: \"ftp://tenant.eu.auth0.com\": scheme ftp://"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "https://tenant.eu.auth0.com/api/v2"}, wantErr: "must not have a path"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "https://u:p@tenant.eu.auth0.com"}, wantErr: "AUTH0_DOMAIN"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "https://tenant.eu.auth0.com?x=1"}, wantErr: "query"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "tenant .auth0.com"}, wantErr: "whitespace"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "tenant.auth0.com:99999"}, wantErr: "invalid port"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "DELETE"}, wantErr: "AUTH0_DOMAIN: is not set (required)"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": ""}, wantErr: "AUTH0_DOMAIN: is empty (required)"},
		{v: "AUTH0_DOMAIN", env: map[string]string{"AUTH0_DOMAIN": "DELETE", "AUTH0_CLIENT_ID": "DELETE", "AUTH0_CLIENT_SECRET": "DELETE"}, noNeed: true,
			check: expect("BaseURL", func(c *Config) string { return c.Auth0.BaseURL }, "")},
		{v: "AUTH0_DOMAIN", flags: []string{"--auth0-domain", "http://127.0.0.1:1"}, check: expect("BaseURL", func(c *Config) string { return c.Auth0.BaseURL }, "http://127.0.0.1:1")},
		{v: "AUTH0_DOMAIN", flags: []string{"--auth0-domain=http://evil.example"}, wantErr: "AUTH0_DOMAIN (--auth0-domain): \"http://evil.example\": http:// is only allowed"},

		{v: "AUTH0_CLIENT_ID", check: expect("ClientID", func(c *Config) string { return c.Auth0.ClientID }, "cid")},
		{v: "AUTH0_CLIENT_ID", env: map[string]string{"AUTH0_CLIENT_ID": "DELETE"}, wantErr: "AUTH0_CLIENT_ID: is not set (required)"},
		{v: "AUTH0_CLIENT_ID", env: map[string]string{"AUTH0_CLIENT_ID": "a b"}, wantErr: "AUTH0_CLIENT_ID: \"a b\": contains whitespace"},

		{v: "AUTH0_CLIENT_SECRET", check: expect("ClientSecret", func(c *Config) string { return c.Auth0.ClientSecret.Reveal() }, "s3cr3t-VALUE")},
		{v: "AUTH0_CLIENT_SECRET", env: map[string]string{"AUTH0_CLIENT_SECRET": "DELETE"}, wantErr: "AUTH0_CLIENT_SECRET: is not set (required; or set AUTH0_CLIENT_SECRET_FILE)"},
		{v: "AUTH0_CLIENT_SECRET", env: map[string]string{"AUTH0_CLIENT_SECRET": ""}, wantErr: "AUTH0_CLIENT_SECRET: is empty"},
		{v: "AUTH0_CLIENT_SECRET", env: map[string]string{"AUTH0_CLIENT_SECRET": "s3cr3t-VALUE x"}, wantErr: "AUTH0_CLIENT_SECRET: is set but contains whitespace"},
		{v: "AUTH0_CLIENT_SECRET_FILE", env: map[string]string{"AUTH0_CLIENT_SECRET": "DELETE", "AUTH0_CLIENT_SECRET_FILE": file("secret")},
			check: expect("ClientSecret", func(c *Config) string { return c.Auth0.ClientSecret.Reveal() }, "filesecret-XYZ")},
		{v: "AUTH0_CLIENT_SECRET_FILE", env: map[string]string{"AUTH0_CLIENT_SECRET_FILE": file("secret")}, wantErr: "AUTH0_CLIENT_SECRET: both AUTH0_CLIENT_SECRET and AUTH0_CLIENT_SECRET_FILE are set"},
		{v: "AUTH0_CLIENT_SECRET_FILE", env: map[string]string{"AUTH0_CLIENT_SECRET": "DELETE", "AUTH0_CLIENT_SECRET_FILE": file("nope")}, wantErr: "AUTH0_CLIENT_SECRET_FILE: \"" + file("nope") + "\": cannot read: no such file"},
		{v: "AUTH0_CLIENT_SECRET_FILE", env: map[string]string{"AUTH0_CLIENT_SECRET": "DELETE", "AUTH0_CLIENT_SECRET_FILE": file("blank")}, wantErr: "AUTH0_CLIENT_SECRET_FILE: file \"" + file("blank") + "\" is empty"},
		// a flag replaces both environment forms
		{v: "AUTH0_CLIENT_SECRET_FILE", env: map[string]string{"AUTH0_CLIENT_SECRET_FILE": file("nope")}, flags: []string{"--auth0-client-secret", "s3cr3t-VALUE"},
			check: expect("ClientSecret", func(c *Config) string { return c.Auth0.ClientSecret.Reveal() }, "s3cr3t-VALUE")},
		{v: "AUTH0_CLIENT_SECRET_FILE", flags: []string{"--auth0-client-secret-file", file("secret")},
			check: expect("ClientSecret", func(c *Config) string { return c.Auth0.ClientSecret.Reveal() }, "filesecret-XYZ")},

		{v: "AUTH0_AUDIENCE", env: map[string]string{"AUTH0_AUDIENCE": "https://canonical.eu.auth0.com/api/v2/"}, check: expect("Audience", func(c *Config) string { return c.Auth0.Audience }, "https://canonical.eu.auth0.com/api/v2/")},
		{v: "AUTH0_AUDIENCE", env: map[string]string{"AUTH0_AUDIENCE": "canonical/api"}, wantErr: "AUTH0_AUDIENCE: \"canonical/api\": not an absolute http(s) URL"},

		{v: "AUTH0_MAX_RPS", check: expect("MaxRPS", func(c *Config) float64 { return c.Auth0.MaxRPS }, 0)},
		{v: "AUTH0_MAX_RPS", env: map[string]string{"AUTH0_MAX_RPS": "2.5"}, check: expect("MaxRPS", func(c *Config) float64 { return c.Auth0.MaxRPS }, 2.5)},
		{v: "AUTH0_MAX_RPS", env: map[string]string{"AUTH0_MAX_RPS": "-1"}, wantErr: "AUTH0_MAX_RPS: \"-1\": must be 0 (off) or more"},
		{v: "AUTH0_MAX_RPS", env: map[string]string{"AUTH0_MAX_RPS": "fast"}, wantErr: "AUTH0_MAX_RPS: \"fast\": not a number"},
		{v: "AUTH0_MAX_RPS", env: map[string]string{"AUTH0_MAX_RPS": "NaN"}, wantErr: "not a number"},

		{v: "AUTH0_API_CALL_ALLOW", check: func(c *Config) error {
			if c.Auth0.APICallAllow != nil {
				return fmt.Errorf("default rules %v, want none", c.Auth0.APICallAllow)
			}
			return nil
		}},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "GET /users*, GET /logs*,"}, check: func(c *Config) error {
			if got := c.Auth0.APICallAllowStrings(); !slices.Equal(got, []string{"GET /users*", "GET /logs*"}) {
				return fmt.Errorf("rules %q", got)
			}
			return nil
		}},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "GET /users*,get /logs"}, wantErr: `AUTH0_API_CALL_ALLOW: "GET /users*,get /logs": rule "get /logs": method must be upper case`},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "FETCH /users"}, wantErr: `rule "FETCH /users": unknown method`},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "GET users"}, wantErr: `rule "GET users": path must start with /`},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "GET"}, wantErr: `rule "GET": want "METHOD /path-glob"`},
		{v: "AUTH0_API_CALL_ALLOW", env: map[string]string{"AUTH0_API_CALL_ALLOW": "GET /api/v2/users"}, wantErr: "drop the /api/v2 prefix"},

		// NATS
		{v: "NATS_URL", check: expect("URL", func(c *Config) string { return c.NATS.URL }, "nats://127.0.0.1:4222")},
		{v: "NATS_URL", env: map[string]string{"NATS_URL": "nats://a:4222, tls://b:4222,c:4222"}, check: expect("URL", func(c *Config) string { return c.NATS.URL }, "nats://a:4222,tls://b:4222,nats://c:4222")},
		{v: "NATS_URL", flags: []string{"--nats-url", "nats://flag:4222"}, env: map[string]string{"NATS_URL": "nats://env:4222"}, check: expect("URL", func(c *Config) string { return c.NATS.URL }, "nats://flag:4222")},
		{v: "NATS_URL", env: map[string]string{"NATS_URL": "http://a:4222"}, wantErr: `NATS_URL: "http://a:4222": scheme must be nats://`},
		{v: "NATS_URL", env: map[string]string{"NATS_URL": "http://u:urlpw-abc@a:4222"}, wantErr: `NATS_URL: "http://u:xxxxx@a:4222"`},
		{v: "NATS_URL", env: map[string]string{"NATS_URL": "ftp://tokinurl-def@a:4222"}, wantErr: `NATS_URL: "ftp://xxxxx@a:4222"`},
		{v: "NATS_URL", env: map[string]string{"NATS_URL": " , "}, wantErr: "NATS_URL"},

		{v: "NATS_CREDS", env: map[string]string{"NATS_CREDS": file("creds")}, check: expect("Creds", func(c *Config) string { return c.NATS.Creds }, file("creds"))},
		{v: "NATS_CREDS", env: map[string]string{"NATS_CREDS": file("nope")}, wantErr: "NATS_CREDS: \"" + file("nope") + "\": cannot read"},
		{v: "NATS_CREDS", env: map[string]string{"NATS_CREDS": dir}, wantErr: "is a directory"},
		{v: "NATS_NKEY_SEED_FILE", env: map[string]string{"NATS_NKEY_SEED_FILE": file("seed")}, check: expect("Seed", func(c *Config) string { return c.NATS.NKeySeedFile }, file("seed"))},
		{v: "NATS_NKEY_SEED_FILE", env: map[string]string{"NATS_NKEY_SEED_FILE": file("nope")}, wantErr: "NATS_NKEY_SEED_FILE: \"" + file("nope") + "\": cannot read"},
		{v: "NATS_NKEY_SEED_FILE", env: map[string]string{"NATS_NKEY_SEED_FILE": file("seed"), "NATS_CREDS": file("creds")}, wantErr: "NATS_NKEY_SEED_FILE: conflicts with NATS_CREDS"},
		{v: "NATS_USER", env: map[string]string{"NATS_USER": "w", "NATS_PASSWORD": "natspw-123"}, check: func(c *Config) error {
			if c.NATS.User != "w" || c.NATS.Password.Reveal() != "natspw-123" {
				return fmt.Errorf("user/password %q", c.NATS.User)
			}
			return nil
		}},
		{v: "NATS_USER", env: map[string]string{"NATS_PASSWORD": "natspw-123"}, wantErr: "NATS_USER: is not set but NATS_PASSWORD is"},
		{v: "NATS_USER", env: map[string]string{"NATS_USER": "a b", "NATS_PASSWORD": "natspw-123"}, wantErr: "NATS_USER: \"a b\": contains whitespace"},
		{v: "NATS_USER", env: map[string]string{"NATS_USER": "w", "NATS_PASSWORD": "natspw-123", "NATS_CREDS": file("creds")}, wantErr: "NATS_USER: conflicts with NATS_CREDS"},
		{v: "NATS_PASSWORD", env: map[string]string{"NATS_USER": "w"}, wantErr: "NATS_PASSWORD: is not set but NATS_USER is"},
		{v: "NATS_PASSWORD_FILE", env: map[string]string{"NATS_USER": "w", "NATS_PASSWORD_FILE": file("secret")}, check: expect("Password", func(c *Config) string { return c.NATS.Password.Reveal() }, "filesecret-XYZ")},
		{v: "NATS_PASSWORD_FILE", env: map[string]string{"NATS_USER": "w", "NATS_PASSWORD": "natspw-123", "NATS_PASSWORD_FILE": file("secret")}, wantErr: "NATS_PASSWORD: both NATS_PASSWORD and NATS_PASSWORD_FILE are set"},
		{v: "NATS_TOKEN", env: map[string]string{"NATS_TOKEN": "natstok-456"}, check: expect("Token", func(c *Config) string { return c.NATS.Token.Reveal() }, "natstok-456")},
		{v: "NATS_TOKEN", env: map[string]string{"NATS_TOKEN": "natstok-456", "NATS_USER": "w", "NATS_PASSWORD": "natspw-123"}, wantErr: "NATS_TOKEN: conflicts with NATS_USER"},
		{v: "NATS_TOKEN_FILE", env: map[string]string{"NATS_TOKEN_FILE": file("secret")}, check: expect("Token", func(c *Config) string { return c.NATS.Token.Reveal() }, "filesecret-XYZ")},
		{v: "NATS_TOKEN_FILE", env: map[string]string{"NATS_TOKEN_FILE": file("nope")}, wantErr: "NATS_TOKEN_FILE: \"" + file("nope") + "\": cannot read"},
		{v: "NATS_TLS_CA", env: map[string]string{"NATS_TLS_CA": file("ca")}, check: expect("TLSCA", func(c *Config) string { return c.NATS.TLSCA }, file("ca"))},
		{v: "NATS_TLS_CA", env: map[string]string{"NATS_TLS_CA": file("nope")}, wantErr: "NATS_TLS_CA: \"" + file("nope") + "\": cannot read"},
		{v: "NATS_TLS_CERT", env: map[string]string{"NATS_TLS_CERT": file("ca"), "NATS_TLS_KEY": file("seed")}, check: expect("TLSKey", func(c *Config) string { return c.NATS.TLSKey }, file("seed"))},
		{v: "NATS_TLS_CERT", env: map[string]string{"NATS_TLS_CERT": file("ca")}, wantErr: "NATS_TLS_KEY: is not set but NATS_TLS_CERT is"},
		{v: "NATS_TLS_KEY", env: map[string]string{"NATS_TLS_KEY": file("ca")}, wantErr: "NATS_TLS_CERT: is not set but NATS_TLS_KEY is"},
		{v: "NATS_TLS_KEY", env: map[string]string{"NATS_TLS_CERT": file("ca"), "NATS_TLS_KEY": file("nope")}, wantErr: "NATS_TLS_KEY: \"" + file("nope") + "\": cannot read"},
		{v: "NATS_SUBJECT_PREFIX", check: expect("SubjectPrefix", func(c *Config) string { return c.NATS.SubjectPrefix }, "auth0")},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": "auth0.tenant-a"}, check: expect("SubjectPrefix", func(c *Config) string { return c.NATS.SubjectPrefix }, "auth0.tenant-a")},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": "auth0.*"}, wantErr: `NATS_SUBJECT_PREFIX: "auth0.*": wildcards`},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": "auth0.>"}, wantErr: "wildcards"},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": "auth0..a"}, wantErr: "empty subject token"},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": ".auth0"}, wantErr: "empty subject token"},
		{v: "NATS_SUBJECT_PREFIX", env: map[string]string{"NATS_SUBJECT_PREFIX": "auth 0"}, wantErr: "whitespace"},
		{v: "NATS_STREAM_REPLICAS", check: expect("Replicas", func(c *Config) int { return c.NATS.StreamReplicas }, 1)},
		{v: "NATS_STREAM_REPLICAS", env: map[string]string{"NATS_STREAM_REPLICAS": "3"}, check: expect("Replicas", func(c *Config) int { return c.NATS.StreamReplicas }, 3)},
		{v: "NATS_STREAM_REPLICAS", env: map[string]string{"NATS_STREAM_REPLICAS": "6"}, wantErr: `NATS_STREAM_REPLICAS: "6": must be between 1 and 5`},
		{v: "NATS_STREAM_REPLICAS", env: map[string]string{"NATS_STREAM_REPLICAS": "0"}, wantErr: "between 1 and 5"},
		{v: "NATS_STREAM_REPLICAS", env: map[string]string{"NATS_STREAM_REPLICAS": "three"}, wantErr: "not an integer"},

		{v: "EVENTS_MAX_AGE", check: expect("MaxAge", func(c *Config) time.Duration { return c.Events.MaxAge }, 720*time.Hour)},
		{v: "EVENTS_MAX_AGE", env: map[string]string{"EVENTS_MAX_AGE": "24h"}, check: expect("MaxAge", func(c *Config) time.Duration { return c.Events.MaxAge }, 24*time.Hour)},
		{v: "EVENTS_MAX_AGE", env: map[string]string{"EVENTS_MAX_AGE": "30d"}, wantErr: `EVENTS_MAX_AGE: "30d": not a duration`},
		{v: "EVENTS_MAX_AGE", env: map[string]string{"EVENTS_MAX_AGE": "0"}, wantErr: "at least 1s"},
		{v: "EVENT_FIELDS", check: func(c *Config) error {
			if c.Events.Fields != nil {
				return fmt.Errorf("fields %v", c.Events.Fields)
			}
			return nil
		}},
		{v: "EVENT_FIELDS", env: map[string]string{"EVENT_FIELDS": "email, identities,"}, check: func(c *Config) error {
			if !slices.Equal(c.Events.Fields, []string{"email", "identities"}) {
				return fmt.Errorf("fields %q", c.Events.Fields)
			}
			return nil
		}},
		{v: "EVENT_FIELDS", env: map[string]string{"EVENT_FIELDS": "email,app_metadata.plan"}, wantErr: `EVENT_FIELDS: "email,app_metadata.plan": field "app_metadata.plan": only top-level`},
		{v: "EVENT_TYPES", check: func(c *Config) error {
			if !slices.Equal(c.Events.Types, []string{"user.created"}) {
				return fmt.Errorf("types %q", c.Events.Types)
			}
			return nil
		}},
		{v: "EVENT_TYPES", env: map[string]string{"EVENT_TYPES": "user.deleted, user.created,user.deleted"}, check: func(c *Config) error {
			if !slices.Equal(c.Events.Types, []string{"user.created", "user.deleted"}) || c.Events.Wants("user.updated") {
				return fmt.Errorf("types %q", c.Events.Types)
			}
			return nil
		}},
		{v: "EVENT_TYPES", env: map[string]string{"EVENT_TYPES": "user.created,user.login"}, wantErr: `EVENT_TYPES: "user.created,user.login": unknown event type "user.login"`},
		{v: "EVENT_TYPES", env: map[string]string{"EVENT_TYPES": " , "}, wantErr: `EVENT_TYPES: " , ": names no event type`},
		{v: "EVENT_TYPES", env: map[string]string{"EVENT_TYPES": "user.updated", "POLL_SOURCE": "search"}, wantErr: `EVENT_TYPES: "user.updated": user.updated and user.deleted need the Events API or the receiver`},
		{v: "EVENT_TYPES", env: map[string]string{"EVENT_TYPES": "user.deleted", "POLL_SOURCE": "search", "WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t0k"}, check: func(c *Config) error {
			if c.Webhook.Addr != ":8443" || c.Webhook.BearerToken.Reveal() != "t0k" {
				return fmt.Errorf("webhook %+v", c.Webhook.Addr)
			}
			return nil
		}},
		{v: "WEBHOOK_ADDR", check: expect("Addr", func(c *Config) string { return c.Webhook.Addr }, "")},
		{v: "WEBHOOK_BEARER_TOKEN", env: map[string]string{"WEBHOOK_ADDR": "127.0.0.1:8443", "WEBHOOK_BEARER_TOKEN": "t0k"}, check: expect("Bearer", func(c *Config) string { return c.Webhook.BearerToken.Reveal() }, "t0k")},
		{v: "WEBHOOK_BEARER_TOKEN_FILE", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN_FILE": file("secret")}, check: expect("Bearer", func(c *Config) string { return c.Webhook.BearerToken.Reveal() }, "filesecret-XYZ")},
		{v: "WEBHOOK_BASIC_USER", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "auth0", "WEBHOOK_BASIC_PASSWORD": "pw"}, check: expect("User", func(c *Config) string { return c.Webhook.BasicUser + "/" + c.Webhook.BasicPassword.Reveal() }, "auth0/pw")},
		{v: "WEBHOOK_BASIC_PASSWORD", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "auth0", "WEBHOOK_BASIC_PASSWORD": "pw"}, check: expect("Password", func(c *Config) string { return c.Webhook.BasicPassword.Reveal() }, "pw")},
		{v: "WEBHOOK_BASIC_PASSWORD_FILE", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "auth0", "WEBHOOK_BASIC_PASSWORD_FILE": file("secret")}, check: expect("Password", func(c *Config) string { return c.Webhook.BasicPassword.Reveal() }, "filesecret-XYZ")},
		{v: "WEBHOOK_TLS_CERT", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t", "WEBHOOK_TLS_CERT": "c.pem", "WEBHOOK_TLS_KEY": "k.pem"}, check: expect("TLS", func(c *Config) string { return c.Webhook.TLSCert + "+" + c.Webhook.TLSKey }, "c.pem+k.pem")},
		{v: "WEBHOOK_TLS_KEY", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t", "WEBHOOK_TLS_CERT": "c.pem", "WEBHOOK_TLS_KEY": "k.pem"}, check: expect("Key", func(c *Config) string { return c.Webhook.TLSKey }, "k.pem")},
		{v: "WEBHOOK_ADDR", env: map[string]string{"WEBHOOK_ADDR": "8443", "WEBHOOK_BEARER_TOKEN": "t"}, wantErr: `WEBHOOK_ADDR: "8443": must be host:port or :port`},
		{v: "WEBHOOK_ADDR", env: map[string]string{"WEBHOOK_ADDR": ":8443"}, wantErr: "WEBHOOK_BEARER_TOKEN: is not set (WEBHOOK_ADDR needs"},
		{v: "WEBHOOK_BEARER_TOKEN", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t", "WEBHOOK_BASIC_USER": "u"}, wantErr: "WEBHOOK_BEARER_TOKEN: is set but both a bearer token and basic credentials are set"},
		{v: "WEBHOOK_BEARER_TOKEN_FILE", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN_FILE": "/nonexistent/tok"}, wantErr: "WEBHOOK_BEARER_TOKEN_FILE"},
		{v: "WEBHOOK_BASIC_USER", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_PASSWORD": "p"}, wantErr: "WEBHOOK_BASIC_USER: is not set (required)"},
		{v: "WEBHOOK_BASIC_USER", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "a:b", "WEBHOOK_BASIC_PASSWORD": "p"}, wantErr: `WEBHOOK_BASIC_USER: "a:b": must not contain ':'`},
		{v: "WEBHOOK_BASIC_PASSWORD", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "u"}, wantErr: "WEBHOOK_BASIC_PASSWORD: is not set (required)"},
		{v: "WEBHOOK_BASIC_PASSWORD_FILE", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BASIC_USER": "u", "WEBHOOK_BASIC_PASSWORD": "p", "WEBHOOK_BASIC_PASSWORD_FILE": "/x"}, wantErr: "both WEBHOOK_BASIC_PASSWORD and WEBHOOK_BASIC_PASSWORD_FILE"},
		{v: "WEBHOOK_TLS_CERT", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t", "WEBHOOK_TLS_KEY": "k.pem"}, wantErr: "WEBHOOK_TLS_CERT: is not set (required)"},
		{v: "WEBHOOK_TLS_KEY", env: map[string]string{"WEBHOOK_ADDR": ":8443", "WEBHOOK_BEARER_TOKEN": "t", "WEBHOOK_TLS_CERT": "c.pem"}, wantErr: "WEBHOOK_TLS_KEY: is not set (required)"},

		// Redis
		{v: "REDIS_URL", check: func(c *Config) error {
			r := c.Redis
			if r.Mode != RedisSingle || r.Addr != "127.0.0.1:6379" || r.DB != 0 || r.TLS.Enabled || r.Username != "" {
				return fmt.Errorf("redis %+v", r)
			}
			return nil
		}},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "rediss://w:urlpw-abc@r:6380/2"}, check: func(c *Config) error {
			r := c.Redis
			if r.Addr != "r:6380" || r.DB != 2 || r.Username != "w" || r.Password.Reveal() != "urlpw-abc" || !r.TLS.Enabled {
				return fmt.Errorf("redis %+v", r)
			}
			if strings.Contains(c.String(), "urlpw-abc") {
				return errors.New("String() shows the URL password")
			}
			return nil
		}},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://[::1]"}, check: expect("Addr", func(c *Config) string { return c.Redis.Addr }, "[::1]:6379")},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "http://r:6379"}, wantErr: `REDIS_URL: "http://r:6379": scheme must be redis:// or rediss://`},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://w:urlpw-abc@r:6379/notadb"}, wantErr: `REDIS_URL: "redis://w:xxxxx@r:6379/notadb": not a valid Redis URL: the database (the path) must be a number`},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://r:6379/0?dial_timeout=3s"}, wantErr: "query parameters are not supported"},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://r:99999/0"}, wantErr: "has an invalid port"},
		{v: "REDIS_URL", env: map[string]string{"REDIS_URL": "redis://r:6379", "REDIS_CLUSTER_ADDRS": "a:1"}, wantErr: "REDIS_CLUSTER_ADDRS: conflicts with REDIS_URL"},
		{v: "REDIS_SENTINEL_ADDRS", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_PASSWORD": "redispw-789", "REDIS_USERNAME": "worker", "REDIS_DB": "3", "REDIS_TLS": "true"}, check: func(c *Config) error {
			r := c.Redis
			if r.Mode != RedisSentinel || len(r.SentinelAddrs) != 2 || r.SentinelMaster != "mymaster" || r.Password.Reveal() != "redispw-789" ||
				r.Username != "worker" || r.DB != 3 || !r.TLS.Enabled || r.Addr != "" {
				return fmt.Errorf("redis %+v", r)
			}
			return nil
		}},
		{v: "REDIS_SENTINEL_ADDRS", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379"}, wantErr: "REDIS_SENTINEL_MASTER: is not set but REDIS_SENTINEL_ADDRS is"},
		{v: "REDIS_SENTINEL_ADDRS", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1", "REDIS_SENTINEL_MASTER": "m"}, wantErr: `REDIS_SENTINEL_ADDRS: "s1": "s1" is not host:port`},
		{v: "REDIS_SENTINEL_ADDRS", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://r:6379"}, wantErr: "REDIS_SENTINEL_ADDRS: conflicts with REDIS_URL"},
		{v: "REDIS_SENTINEL_MASTER", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m2"}, check: expect("SentinelMaster", func(c *Config) string { return c.Redis.SentinelMaster }, "m2")},
		{v: "REDIS_SENTINEL_MASTER", env: map[string]string{"REDIS_SENTINEL_MASTER": "m"}, wantErr: "REDIS_SENTINEL_ADDRS: is not set but REDIS_SENTINEL_MASTER is"},
		{v: "REDIS_SENTINEL_MASTER", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:1", "REDIS_SENTINEL_MASTER": "my master"}, wantErr: `REDIS_SENTINEL_MASTER: "my master": contains whitespace`},
		{v: "REDIS_CLUSTER_ADDRS", env: map[string]string{"REDIS_CLUSTER_ADDRS": "a:7000, b:7001", "REDIS_USERNAME": "worker", "REDIS_TLS": "1"}, check: func(c *Config) error {
			r := c.Redis
			if r.Mode != RedisCluster || !slices.Equal(r.ClusterAddrs, []string{"a:7000", "b:7001"}) || r.Username != "worker" || !r.TLS.Enabled || r.DB != 0 {
				return fmt.Errorf("redis %+v", r)
			}
			return nil
		}},
		{v: "REDIS_CLUSTER_ADDRS", env: map[string]string{"REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_SENTINEL_ADDRS": "s:1", "REDIS_SENTINEL_MASTER": "m"}, wantErr: "REDIS_CLUSTER_ADDRS: conflicts with REDIS_SENTINEL_ADDRS"},
		{v: "REDIS_CLUSTER_ADDRS", env: map[string]string{"REDIS_CLUSTER_ADDRS": "a:0"}, wantErr: `"a:0" has an invalid port`},
		{v: "REDIS_USERNAME", env: map[string]string{"REDIS_USERNAME": "worker", "REDIS_URL": "redis://r:6379/0"}, check: expect("Username", func(c *Config) string { return c.Redis.Username }, "worker")},
		{v: "REDIS_USERNAME", env: map[string]string{"REDIS_USERNAME": "worker", "REDIS_URL": "redis://other@r:6379/0"}, wantErr: `REDIS_USERNAME: "worker": is set but REDIS_URL already carries a user; use one`},
		{v: "REDIS_USERNAME", env: map[string]string{"REDIS_USERNAME": "my worker"}, wantErr: "contains whitespace"},
		{v: "REDIS_PASSWORD", env: map[string]string{"REDIS_PASSWORD": "redispw-789"}, check: expect("Password", func(c *Config) string { return c.Redis.Password.Reveal() }, "redispw-789")},
		{v: "REDIS_PASSWORD", env: map[string]string{"REDIS_PASSWORD": "redispw-789", "REDIS_URL": "redis://:urlpw-abc@r:6379"}, wantErr: "REDIS_PASSWORD: is set but REDIS_URL already carries a password"},
		{v: "REDIS_PASSWORD_FILE", env: map[string]string{"REDIS_PASSWORD_FILE": file("secret")}, check: expect("Password", func(c *Config) string { return c.Redis.Password.Reveal() }, "filesecret-XYZ")},
		{v: "REDIS_PASSWORD_FILE", env: map[string]string{"REDIS_PASSWORD_FILE": file("secret"), "REDIS_PASSWORD": "redispw-789"}, wantErr: "REDIS_PASSWORD: both REDIS_PASSWORD and REDIS_PASSWORD_FILE are set"},
		{v: "REDIS_DB", env: map[string]string{"REDIS_DB": "5", "REDIS_URL": "redis://r:6379"}, check: expect("DB", func(c *Config) int { return c.Redis.DB }, 5)},
		{v: "REDIS_DB", env: map[string]string{"REDIS_DB": "5"}, check: expect("DB", func(c *Config) int { return c.Redis.DB }, 5)},
		{v: "REDIS_DB", env: map[string]string{"REDIS_DB": "5", "REDIS_URL": "redis://r:6379/1"}, wantErr: `REDIS_DB: "5": is set but REDIS_URL already names database 1; use one`},
		{v: "REDIS_DB", env: map[string]string{"REDIS_DB": "2", "REDIS_CLUSTER_ADDRS": "a:7000"}, wantErr: `REDIS_DB: "2": must be 0 with REDIS_CLUSTER_ADDRS`},
		{v: "REDIS_DB", env: map[string]string{"REDIS_DB": "-1"}, wantErr: `REDIS_DB: "-1": must be a database number`},
		{v: "REDIS_TLS", env: map[string]string{"REDIS_TLS": "true"}, check: expect("TLS", func(c *Config) bool { return c.Redis.TLS.Enabled }, true)},
		{v: "REDIS_TLS", env: map[string]string{"REDIS_TLS": "yes"}, wantErr: `REDIS_TLS: "yes": must be true or false`},
		{v: "REDIS_TLS", env: map[string]string{"REDIS_TLS": "false", "REDIS_URL": "rediss://r:6380/0"}, wantErr: `REDIS_TLS: "false": is false but REDIS_URL is rediss://`},
		{v: "REDIS_TLS_CA", env: map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA": file("ca")}, check: expect("CA", func(c *Config) string { return c.Redis.TLS.CA }, file("ca"))},
		{v: "REDIS_TLS_CA", env: map[string]string{"REDIS_TLS_CA": file("ca")}, wantErr: "REDIS_TLS_CA: " + strconv.Quote(file("ca")) + ": is set but TLS to Redis is off (set REDIS_TLS=true or use rediss://)"},
		{v: "REDIS_TLS_CA", env: map[string]string{"REDIS_TLS": "true", "REDIS_TLS_CA": file("nope")}, wantErr: "cannot read"},
		{v: "REDIS_TLS_CERT", env: map[string]string{"REDIS_URL": "rediss://r:6380/0", "REDIS_TLS_CERT": file("ca"), "REDIS_TLS_KEY": file("seed")}, check: expect("Key", func(c *Config) string { return c.Redis.TLS.Key }, file("seed"))},
		{v: "REDIS_TLS_CERT", env: map[string]string{"REDIS_URL": "rediss://r:6380/0", "REDIS_TLS_CERT": file("ca")}, wantErr: "REDIS_TLS_KEY: is not set but REDIS_TLS_CERT is"},
		{v: "REDIS_TLS_KEY", env: map[string]string{"REDIS_URL": "rediss://r:6380/0", "REDIS_TLS_KEY": file("seed")}, wantErr: "REDIS_TLS_CERT: is not set but REDIS_TLS_KEY is"},
		{v: "REDIS_TLS_SERVER_NAME", env: map[string]string{"REDIS_TLS": "true", "REDIS_TLS_SERVER_NAME": "redis.internal"}, check: expect("ServerName", func(c *Config) string { return c.Redis.TLS.ServerName }, "redis.internal")},
		{v: "REDIS_TLS_SERVER_NAME", env: map[string]string{"REDIS_TLS_SERVER_NAME": "redis.internal"}, wantErr: "is set but TLS to Redis is off"},
		{v: "REDIS_SENTINEL_USERNAME", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_USERNAME": "sent", "REDIS_SENTINEL_PASSWORD": "redispw-789"}, check: func(c *Config) error {
			if c.Redis.SentinelUsername != "sent" || c.Redis.SentinelPassword.Reveal() != "redispw-789" {
				return fmt.Errorf("redis %+v", c.Redis)
			}
			return nil
		}},
		{v: "REDIS_SENTINEL_USERNAME", env: map[string]string{"REDIS_SENTINEL_USERNAME": "sent", "REDIS_SENTINEL_PASSWORD": "redispw-789"}, wantErr: `REDIS_SENTINEL_USERNAME: "sent": is set but REDIS_SENTINEL_ADDRS is not`},
		{v: "REDIS_SENTINEL_PASSWORD", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD": "redispw-789"}, check: expect("SentinelPassword", func(c *Config) string { return c.Redis.SentinelPassword.Reveal() }, "redispw-789")},
		{v: "REDIS_SENTINEL_PASSWORD", env: map[string]string{"REDIS_SENTINEL_PASSWORD": "redispw-789"}, wantErr: "REDIS_SENTINEL_PASSWORD: is set but REDIS_SENTINEL_ADDRS is not"},
		{v: "REDIS_SENTINEL_PASSWORD", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_USERNAME": "sent"}, wantErr: "REDIS_SENTINEL_PASSWORD: is not set but REDIS_SENTINEL_USERNAME is"},
		{v: "REDIS_SENTINEL_PASSWORD_FILE", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD_FILE": file("secret")}, check: expect("SentinelPassword", func(c *Config) string { return c.Redis.SentinelPassword.Reveal() }, "filesecret-XYZ")},
		{v: "REDIS_SENTINEL_PASSWORD_FILE", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_SENTINEL_PASSWORD_FILE": file("blank")}, wantErr: "REDIS_SENTINEL_PASSWORD_FILE: file"},
		{v: "REDIS_KEY_PREFIX", check: expect("KeyPrefix", func(c *Config) string { return c.Redis.KeyPrefix }, "auth0w")},
		{v: "REDIS_KEY_PREFIX", env: map[string]string{"REDIS_KEY_PREFIX": "bus-b"}, check: expect("KeyPrefix", func(c *Config) string { return c.Redis.KeyPrefix }, "bus-b")},
		{v: "REDIS_KEY_PREFIX", env: map[string]string{"REDIS_KEY_PREFIX": "bus b"}, wantErr: `REDIS_KEY_PREFIX: "bus b": contains whitespace`},
		{v: "REDIS_KEY_PREFIX", env: map[string]string{"REDIS_KEY_PREFIX": "{x}"}, wantErr: "hash tags"},

		// Poll
		{v: "POLL_SOURCE", check: func(c *Config) error {
			if c.Poll.Source != SourceAuto || c.Poll.EffectiveSource() != SourceAuto {
				return fmt.Errorf("source %s/%s", c.Poll.Source, c.Poll.EffectiveSource())
			}
			return nil
		}},
		{v: "POLL_SOURCE", env: map[string]string{"POLL_SOURCE": "events"}, check: expect("EffectiveSource", func(c *Config) PollSource { return c.Poll.EffectiveSource() }, SourceEvents)},
		{v: "POLL_SOURCE", env: map[string]string{"POLL_SOURCE": "webhook"}, wantErr: `POLL_SOURCE: "webhook": must be events, search or auto`},
		{v: "POLL_QUERY", env: map[string]string{"POLL_QUERY": `email:*@example.com`}, check: expect("EffectiveSource", func(c *Config) PollSource { return c.Poll.EffectiveSource() }, SourceSearch)},
		{v: "POLL_QUERY", env: map[string]string{"POLL_QUERY": `email:*@example.com`, "POLL_SOURCE": "search"}, check: expect("Query", func(c *Config) string { return c.Poll.Query }, `email:*@example.com`)},
		{v: "POLL_QUERY", env: map[string]string{"POLL_QUERY": `email:*@example.com`, "POLL_SOURCE": "events"}, wantErr: `POLL_QUERY: "email:*@example.com": POLL_QUERY only works with the search source`},
		{v: "POLL_QUERY", env: map[string]string{"POLL_QUERY": "a\nb"}, wantErr: `POLL_QUERY: "a\nb": must be one line`},
		{v: "POLL_LIMIT", check: expect("Limit", func(c *Config) int { return c.Poll.Limit }, 1000)},
		{v: "POLL_LIMIT", env: map[string]string{"POLL_LIMIT": "1"}, check: expect("Limit", func(c *Config) int { return c.Poll.Limit }, 1)},
		{v: "POLL_LIMIT", env: map[string]string{"POLL_LIMIT": "0"}, wantErr: `POLL_LIMIT: "0": must be at least 1`},
		{v: "POLL_INTERVAL", check: expect("Interval", func(c *Config) time.Duration { return c.Poll.Interval }, 10*time.Second)},
		{v: "POLL_INTERVAL", env: map[string]string{"POLL_INTERVAL": "500ms"}, check: expect("Interval", func(c *Config) time.Duration { return c.Poll.Interval }, 500*time.Millisecond)},
		{v: "POLL_INTERVAL", env: map[string]string{"POLL_INTERVAL": "10"}, wantErr: `POLL_INTERVAL: "10": not a duration`},
		{v: "POLL_INTERVAL", env: map[string]string{"POLL_INTERVAL": "0s"}, wantErr: "more than 0"},
		{v: "POLL_OVERLAP", check: expect("Overlap", func(c *Config) time.Duration { return c.Poll.Overlap }, 2*time.Minute)},
		{v: "POLL_OVERLAP", env: map[string]string{"POLL_OVERLAP": "0"}, check: expect("Overlap", func(c *Config) time.Duration { return c.Poll.Overlap }, 0)},
		{v: "POLL_OVERLAP", env: map[string]string{"POLL_OVERLAP": "-1m"}, wantErr: `POLL_OVERLAP: "-1m": must be 0 or more`},
		{v: "POLL_START", check: expect("Start", func(c *Config) pollstart.Mode { return c.Poll.Start.Mode }, pollstart.Now)},
		{v: "POLL_START", env: map[string]string{"POLL_START": "all"}, check: expect("Start", func(c *Config) pollstart.Mode { return c.Poll.Start.Mode }, pollstart.All)},
		{v: "POLL_START", env: map[string]string{"POLL_START": "2026-01-02T15:04:05.123Z"}, check: expect("Start", func(c *Config) time.Time { return c.Poll.Start.Time },
			time.Date(2026, 1, 2, 15, 4, 5, 123e6, time.UTC))},
		{v: "POLL_START", env: map[string]string{"POLL_START": "yesterday"}, wantErr: `POLL_START: "yesterday": must be now, all or an RFC 3339 time`},
		{v: "RECONCILE_INTERVAL", check: expect("Reconcile", func(c *Config) time.Duration { return c.Poll.ReconcileInterval }, 10*time.Minute)},
		{v: "RECONCILE_INTERVAL", env: map[string]string{"RECONCILE_INTERVAL": "0"}, check: expect("Reconcile", func(c *Config) time.Duration { return c.Poll.ReconcileInterval }, 0)},
		{v: "RECONCILE_INTERVAL", env: map[string]string{"RECONCILE_INTERVAL": "-5m"}, wantErr: `RECONCILE_INTERVAL: "-5m": must be 0 (off) or more`},
		{v: "DEDUPE_TTL", check: expect("DedupeTTL", func(c *Config) time.Duration { return c.Poll.DedupeTTL }, 168*time.Hour)},
		{v: "DEDUPE_TTL", env: map[string]string{"DEDUPE_TTL": "500ms"}, wantErr: `DEDUPE_TTL: "500ms": must be at least 1s`},
		{v: "LEASE_TTL", check: expect("LeaseTTL", func(c *Config) time.Duration { return c.Poll.LeaseTTL }, 15*time.Second)},
		{v: "LEASE_TTL", env: map[string]string{"LEASE_TTL": "2s"}, check: expect("LeaseTTL", func(c *Config) time.Duration { return c.Poll.LeaseTTL }, 2*time.Second)},
		{v: "LEASE_TTL", env: map[string]string{"LEASE_TTL": "10ms"}, wantErr: `LEASE_TTL: "10ms": must be at least 300ms`},
		// 100ms passed config once and was refused by poller.New only after every connection was made.
		{v: "LEASE_TTL", env: map[string]string{"LEASE_TTL": "100ms"}, wantErr: `LEASE_TTL: "100ms": must be at least 300ms`},

		// Commands
		{v: "COMMAND_CONCURRENCY", check: expect("Concurrency", func(c *Config) int { return c.Command.Concurrency }, 8)},
		{v: "COMMAND_CONCURRENCY", env: map[string]string{"COMMAND_CONCURRENCY": "0"}, wantErr: `COMMAND_CONCURRENCY: "0": must be at least 1`},
		{v: "COMMAND_TIMEOUT", check: expect("Timeout", func(c *Config) time.Duration { return c.Command.Timeout }, 30*time.Second)},
		{v: "COMMAND_TIMEOUT", env: map[string]string{"COMMAND_TIMEOUT": "0"}, wantErr: `COMMAND_TIMEOUT: "0": must be more than 0`},
		{v: "COMMAND_MAX_DELIVER", check: expect("MaxDeliver", func(c *Config) int { return c.Command.MaxDeliver }, 5)},
		{v: "DLQ_MAX_AGE", check: expect("DLQMaxAge", func(c *Config) time.Duration { return c.Command.DLQMaxAge }, 336*time.Hour)},
		{v: "DLQ_MAX_AGE", env: map[string]string{"DLQ_MAX_AGE": "48h"}, check: expect("DLQMaxAge", func(c *Config) time.Duration { return c.Command.DLQMaxAge }, 48*time.Hour)},
		{v: "DLQ_MAX_AGE", env: map[string]string{"DLQ_MAX_AGE": "0"}, wantErr: "at least 1s"},
		{v: "COMMAND_MAX_DELIVER", env: map[string]string{"COMMAND_MAX_DELIVER": "1.5"}, wantErr: `COMMAND_MAX_DELIVER: "1.5": not an integer`},
		{v: "COMMAND_MAX_DELIVER", env: map[string]string{"COMMAND_MAX_DELIVER": "0"}, wantErr: "at least 1"},

		// HTTP and logs
		{v: "HTTP_ADDR", check: expect("HTTPAddr", func(c *Config) string { return c.HTTPAddr }, ":8080")},
		{v: "HTTP_ADDR", env: map[string]string{"HTTP_ADDR": "127.0.0.1:0"}, check: expect("HTTPAddr", func(c *Config) string { return c.HTTPAddr }, "127.0.0.1:0")},
		{v: "HTTP_ADDR", env: map[string]string{"HTTP_ADDR": "8080"}, wantErr: `HTTP_ADDR: "8080": not host:port`},
		{v: "HTTP_ADDR", env: map[string]string{"HTTP_ADDR": ":http"}, wantErr: "invalid port"},
		{v: "LOG_LEVEL", check: expect("LogLevel", func(c *Config) slog.Level { return c.LogLevel }, slog.LevelInfo)},
		{v: "LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "DEBUG"}, check: expect("LogLevel", func(c *Config) slog.Level { return c.LogLevel }, slog.LevelDebug)},
		{v: "LOG_LEVEL", env: map[string]string{"LOG_LEVEL": "trace"}, wantErr: `LOG_LEVEL: "trace": must be debug, info, warn or error`},
		{v: "LOG_FORMAT", check: expect("LogFormat", func(c *Config) string { return c.LogFormat }, "auto")},
		{v: "LOG_FORMAT", env: map[string]string{"LOG_FORMAT": "json"}, check: expect("LogFormat", func(c *Config) string { return c.LogFormat }, "json")},
		{v: "LOG_FORMAT", env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: `LOG_FORMAT: "xml": must be auto, text or json`},
	}
}

func writeFixtures(t *testing.T, dir string) {
	t.Helper()
	for name, content := range map[string]string{"secret": "  filesecret-XYZ\n\n", "blank": " \n", "creds": "creds", "seed": "seed", "ca": "ca"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFixtures(t, dir)
	for i, tc := range cases(dir) {
		name := fmt.Sprintf("%02d_%s", i, tc.v)
		if tc.wantErr != "" {
			name += "_bad"
		}
		t.Run(name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tc.env {
				if v == "DELETE" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			need := NeedAuth0
			if tc.noNeed {
				need = 0
			}
			c, err := Load(tc.flags, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, need)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("env %v: unexpected error: %v", tc.env, err)
				}
				if tc.check != nil {
					if err := tc.check(c); err != nil {
						t.Fatal(err)
					}
				}
				for _, s := range testSecrets {
					if strings.Contains(c.String(), s) || strings.Contains(fmt.Sprintf("%v %+v %#v", c, *c, *c), s) {
						t.Fatalf("printing the config shows secret %q: %s", s, c)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("env %v: no error, want %q", tc.env, tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) {
				t.Fatalf("error %q\nwant it to contain %q", msg, tc.wantErr)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error", err)
			}
			if !strings.HasPrefix(msg, ce.Var) || !strings.HasPrefix(ce.Var, strings.TrimSuffix(tc.v, "_FILE")) && !strings.HasPrefix(tc.wantErr, ce.Var) {
				t.Fatalf("error %q does not start with its variable %s", msg, ce.Var)
			}
			if ce.Example == "" || !strings.Contains(msg, "(example: "+ce.Var+"=") {
				t.Fatalf("error %q carries no example", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error is not one line: %q", msg)
			}
			for _, s := range testSecrets {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q shows secret %q", msg, s)
				}
			}
		})
	}
}

// TestEveryVariableTested fails when a variable of Vars (or a _FILE form)
// lacks a good or a bad case in the table above.
func TestEveryVariableTested(t *testing.T) {
	good, badc := map[string]bool{}, map[string]bool{}
	for _, tc := range cases(t.TempDir()) {
		if tc.wantErr == "" {
			good[tc.v] = true
		} else {
			badc[tc.v] = true
		}
	}
	for name := range varByName {
		if name == "NATS_TLS_KEY" || name == "NATS_PASSWORD" || name == "REDIS_TLS_KEY" { // good cases share NATS_TLS_CERT / NATS_USER
			good[name] = good[name] || good[strings.Replace(strings.Replace(name, "KEY", "CERT", 1), "PASSWORD", "USER", 1)]
		}
		if !good[name] {
			t.Errorf("%s has no good case", name)
		}
		if !badc[name] {
			t.Errorf("%s has no bad case", name)
		}
	}
}

func TestFlagNamesAreDerived(t *testing.T) {
	for _, v := range Vars {
		if got := v.Flag(); got != "--"+strings.ReplaceAll(strings.ToLower(v.Name), "_", "-") {
			t.Errorf("%s: flag %s", v.Name, got)
		}
	}
	if FlagName("NATS_URL") != "--nats-url" {
		t.Fatal(FlagName("NATS_URL"))
	}
	c, err := Load([]string{"--poll-limit=7", "-log-format", "json", "extra"}, func(string) (string, bool) { return "", false }, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Poll.Limit != 7 || c.LogFormat != "json" || !slices.Equal(c.Args, []string{"extra"}) {
		t.Fatalf("limit %d format %s args %v", c.Poll.Limit, c.LogFormat, c.Args)
	}
}

func TestCommandLineErrors(t *testing.T) {
	if _, err := Load([]string{"--help"}, nil, 0); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	_, err := Load([]string{"--no-such-flag"}, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestSecretDoesNotPrint(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s), slog.StringValue(s.LogValue().String()).String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Fatal("MarshalText shows the secret")
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
}

func TestNeedFor(t *testing.T) {
	for sub, want := range map[string]Need{"run": NeedAuth0, "poll": NeedAuth0, "serve": NeedAuth0, "check": NeedAuth0, "dev": 0, "version": 0} {
		if NeedFor(sub) != want {
			t.Errorf("NeedFor(%s) = %v", sub, NeedFor(sub))
		}
	}
	// dev needs nothing: an empty environment loads.
	c, err := Load(nil, func(string) (string, bool) { return "", false }, NeedFor("dev"))
	if err != nil || c.Auth0.BaseURL != "" || c.NATS.URL != "nats://127.0.0.1:4222" {
		t.Fatalf("dev: %v %+v", err, c)
	}
}

// Reproduction: AUTH0_DOMAIN with userinfo was echoed verbatim in the
// error that refused it.
func TestDomainUserinfoNeverEchoed(t *testing.T) {
	for _, dom := range []string{"https://admin:pa55w0rd@tenant.eu.auth0.com", "admin:pa55w0rd@tenant.eu.auth0.com", "http://pa55w0rd@127.0.0.1:8081/"} {
		env := baseEnv()
		env["AUTH0_DOMAIN"] = dom
		_, err := Load(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, NeedAuth0)
		if err == nil || strings.Contains(err.Error(), "pa55w0rd") || !strings.Contains(err.Error(), "AUTH0_DOMAIN") {
			t.Fatalf("%s: %v", dom, err)
		}
	}
}
