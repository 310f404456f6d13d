package testnats

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Operator is a NATS operator set-up generated in the test: an operator, a
// system account and an account "WORKERS" with JetStream, held by a memory
// resolver. It has .creds files for a user of WORKERS, for a user WORKERS has
// revoked, and for a user of an account the server does not know.
type Operator struct {
	// CredsFile, RevokedCredsFile, UnknownCredsFile are .creds files.
	CredsFile, RevokedCredsFile, UnknownCredsFile string
	// Account is the public key of WORKERS (the JetStream account).
	Account string

	operator         *jwt.OperatorClaims
	sysPub           string
	accounts         map[string]string // public key → JWT
	dir              string
	t                testing.TB
	okp, akp, unkAKP nkeys.KeyPair
}

// NewOperator generates the keys, JWTs and .creds files.
func NewOperator(t testing.TB) *Operator {
	t.Helper()
	o := &Operator{t: t, dir: t.TempDir(), accounts: map[string]string{}}
	o.okp = o.key(nkeys.CreateOperator)
	sysKP := o.key(nkeys.CreateAccount)
	o.sysPub = o.pub(sysKP)
	oc := jwt.NewOperatorClaims(o.pub(o.okp))
	oc.Name, oc.SystemAccount = "test-operator", o.sysPub
	o.operator = o.decodeOperator(o.encode(oc, o.okp))

	sys := jwt.NewAccountClaims(o.sysPub)
	sys.Name = "SYS"
	o.accounts[o.sysPub] = o.encode(sys, o.okp)

	o.akp = o.key(nkeys.CreateAccount)
	o.Account = o.pub(o.akp)
	ac := jwt.NewAccountClaims(o.Account)
	ac.Name = "WORKERS"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	o.CredsFile, _ = o.user("worker", o.akp)
	var revoked string
	o.RevokedCredsFile, revoked = o.user("revoked", o.akp)
	ac.RevokeAt(revoked, time.Now().Add(time.Hour)) // every JWT of that user issued before then
	o.accounts[o.Account] = o.encode(ac, o.okp)

	o.unkAKP = o.key(nkeys.CreateAccount) // signed by nobody the server trusts
	o.UnknownCredsFile, _ = o.user("stranger", o.unkAKP)
	return o
}

// Option makes a server trust the operator (memory resolver with both
// accounts preloaded).
func (o *Operator) Option() Option {
	return func(so *server.Options) {
		r := &server.MemAccResolver{}
		for pub, j := range o.accounts {
			if err := r.Store(pub, j); err != nil {
				o.t.Fatalf("testnats: resolver: %v", err)
			}
		}
		so.TrustedOperators = []*jwt.OperatorClaims{o.operator}
		so.AccountResolver = r
		so.SystemAccount = o.sysPub
	}
}

// user creates a user signed by account and writes its .creds file.
func (o *Operator) user(name string, account nkeys.KeyPair) (credsFile, pub string) {
	ukp := o.key(nkeys.CreateUser)
	pub = o.pub(ukp)
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	seed, err := ukp.Seed()
	if err != nil {
		o.t.Fatalf("testnats: %v", err)
	}
	creds, err := jwt.FormatUserConfig(o.encode(uc, account), seed)
	if err != nil {
		o.t.Fatalf("testnats: %v", err)
	}
	credsFile = filepath.Join(o.dir, name+".creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		o.t.Fatalf("testnats: %v", err)
	}
	return credsFile, pub
}

func (o *Operator) key(create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	kp, err := create()
	if err != nil {
		o.t.Fatalf("testnats: nkey: %v", err)
	}
	return kp
}

func (o *Operator) pub(kp nkeys.KeyPair) string {
	p, err := kp.PublicKey()
	if err != nil {
		o.t.Fatalf("testnats: nkey: %v", err)
	}
	return p
}

func (o *Operator) encode(c jwt.Claims, kp nkeys.KeyPair) string {
	s, err := c.Encode(kp)
	if err != nil {
		o.t.Fatalf("testnats: jwt: %v", err)
	}
	return s
}

func (o *Operator) decodeOperator(s string) *jwt.OperatorClaims {
	c, err := jwt.DecodeOperatorClaims(s)
	if err != nil {
		o.t.Fatalf("testnats: jwt: %v", err)
	}
	return c
}
