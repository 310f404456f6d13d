package consumer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// OutcomeTTL is how long an outcome is remembered (README "Commands"; docs/architecture.md "Redis keys").
const OutcomeTTL = 24 * time.Hour

// Headers of replies and messages (README "Commands").
const (
	HeaderErrorCode      = "Nats-Service-Error-Code"
	HeaderError          = "Nats-Service-Error"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderMsgID          = "Nats-Msg-Id"
	HeaderDlqReason      = "Dlq-Reason"
	HeaderDlqSubject     = "Dlq-Subject"
	HeaderDlqDeliveries  = "Dlq-Deliveries"
	// HeaderTruncated marks a change's success whose body was reduced to
	// fit the connection's max payload (README "Commands", reply size).
	HeaderTruncated = "Auth0-Outcome-Truncated"
)

// Outcome is a command's permanent result: the reply body and, for an
// error, its status and one-line description. It is what a repeat of the
// same Idempotency-Key or command id gets.
type Outcome struct {
	Status int             `json:"status"` // 200 on success
	Error  string          `json:"error,omitempty"`
	Body   json.RawMessage `json:"body"`
	// Truncated: a change's success reduced to fit (HeaderTruncated).
	Truncated bool `json:"truncated,omitempty"`
	// Command and BodySHA256 bind a stored outcome to the request it
	// answered: the same key with another command or body is refused
	// (409 idempotency_key_reused) instead of replaying this outcome.
	Command    string `json:"command,omitempty"`
	BodySHA256 string `json:"body_sha256,omitempty"`
}

// OK reports a success.
func (o Outcome) OK() bool { return o.Status == 200 }

func successOutcome(body []byte) Outcome { return Outcome{Status: 200, Body: body} }

func errorOutcome(e *Error) Outcome {
	return Outcome{Status: e.Status, Error: e.Message, Body: e.Body()}
}

// Msg renders the outcome as a NATS message on subject (error headers for
// failures).
func (o Outcome) Msg(subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = o.Body
	if !o.OK() {
		m.Header.Set(HeaderErrorCode, strconv.Itoa(o.Status))
		m.Header.Set(HeaderError, oneLine(o.Error))
	}
	if o.Truncated {
		m.Header.Set(HeaderTruncated, "true")
	}
	return m
}

// keyRef names the Redis keys of one outcome and its in-flight lock: a
// durable command id (P:T:cmd:<id>) or an Idempotency-Key (P:T:idem:<key>).
type keyRef struct {
	id, outcome, lock string
}

func (c *Consumer) cmdRef(id string) keyRef {
	return keyRef{id: id, outcome: c.o.Keys.Cmd(id), lock: c.o.Keys.CmdLock(id)}
}

func (c *Consumer) idemRef(key string) keyRef {
	return keyRef{id: key, outcome: c.o.Keys.Idem(key), lock: c.o.Keys.IdemLock(key)}
}

// store keeps outcomes and in-flight locks in Redis (keys in docs/architecture.md "Redis keys").
type store struct {
	rdb   redis.UniversalClient
	token string // this instance's lock token
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrNoOutcome means no outcome is stored for the id.
var errNoOutcome = errors.New("no stored outcome")

func (s *store) get(ctx context.Context, id keyRef) (Outcome, error) {
	b, err := s.rdb.Get(ctx, id.outcome).Bytes()
	if errors.Is(err, redis.Nil) {
		return Outcome{}, errNoOutcome
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("redis get outcome: %w", err)
	}
	var o Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		return Outcome{}, fmt.Errorf("redis outcome of %s: %w", id.id, err)
	}
	return o, nil
}

// marshalNoEscape is json.Marshal without HTML escaping, so stored and
// replayed bodies are byte-identical to the first reply.
func marshalNoEscape(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func (s *store) put(ctx context.Context, id keyRef, o Outcome) error {
	b := marshalNoEscape(o)
	if err := s.rdb.Set(ctx, id.outcome, b, OutcomeTTL).Err(); err != nil {
		return fmt.Errorf("redis store outcome: %w", err)
	}
	return nil
}

// lockValue is "<instance token>:<random> <start unix ms>": the token says
// who holds it, the start when the attempt began.
func (s *store) lock(ctx context.Context, id keyRef, ttl time.Duration) (value string, ok bool, err error) {
	value = s.token + ":" + newToken()[:8] + " " + strconv.FormatInt(time.Now().UnixMilli(), 10)
	ok, err = s.rdb.SetNX(ctx, id.lock, value, ttl).Result()
	if err != nil {
		return "", false, fmt.Errorf("redis lock: %w", err)
	}
	return value, ok, nil
}

var refreshScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`)
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// refresh extends a lock this attempt holds; false when it is no longer ours.
func (s *store) refresh(ctx context.Context, id keyRef, value string, ttl time.Duration) (bool, error) {
	n, err := refreshScript.Run(ctx, s.rdb, []string{id.lock}, value, ttl.Milliseconds()).Int()
	return n == 1, err
}

func (s *store) release(ctx context.Context, id keyRef, value string) error {
	return releaseScript.Run(ctx, s.rdb, []string{id.lock}, value).Err()
}

// exists reports whether the lock is held by anyone.
func (s *store) locked(ctx context.Context, id keyRef) (bool, error) {
	n, err := s.rdb.Exists(ctx, id.lock).Result()
	return n == 1, err
}
