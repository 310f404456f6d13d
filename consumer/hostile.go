package consumer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// The hostile-caller rules (README "Request-reply") that are not
// about one command's body: reply subjects, reply size, header values and
// the Idempotency-Key binding.

// Codes of the hostile-caller rules.
const (
	CodeIdempotencyKeyReused = "idempotency_key_reused" // 409: the key was used with another command or body
	CodeReplyTooLarge        = "reply_too_large"        // 413: a read's reply exceeds the max payload
	CodeOverloaded           = "overloaded"             // 503: the request queue is full
)

// OutcomeRefusedReply is the outcome label of a request whose reply
// subject is refused (no reply is sent).
const OutcomeRefusedReply = "refused_reply"

// replyRefused reports why a reply subject is refused, or "": a reply under
// the subject prefix would write into the worker's own streams, one starting
// with "$" into the server's APIs ($JS., $KV., $SRV., $SYS. ...). An empty
// reply subject is refused too: nobody could learn the outcome.
func replyRefused(prefix, reply string) string {
	switch {
	case reply == "":
		return "no reply subject"
	case strings.HasPrefix(reply, "$"):
		return "reply subject starts with $"
	case reply == prefix || strings.HasPrefix(reply, prefix+"."):
		return "reply subject lies under the subject prefix " + prefix
	}
	return ""
}

// checkHeaderValues refuses any header value holding a control character:
// such a value could only fail later (after retries, as a misleading 503).
func checkHeaderValues(h nats.Header) *Error {
	for k, vs := range h {
		for _, v := range vs {
			if hasControl(v) {
				return invalidf("header %s contains a control character", oneLine(k))
			}
		}
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// bodyHash is the hex SHA-256 of the body's canonical JSON (member order and
// spacing do not matter; numbers keep their text). A body that is not JSON
// is hashed as it is.
func bodyHash(data []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	canon := data
	if err := dec.Decode(&v); err == nil && !dec.More() {
		canon = marshalNoEscape(v) // encoding/json sorts map keys
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// bind stamps o with the request it answers.
func bind(o Outcome, command, hash string) Outcome {
	o.Command, o.BodySHA256 = command, hash
	return o
}

// reuseError is the 409 for a stored outcome that answered another request.
// Outcomes stored before the binding existed carry no command: they match.
func reuseError(stored Outcome, command, hash string) *Error {
	if stored.Command == "" || (stored.Command == command && stored.BodySHA256 == hash) {
		return nil
	}
	return &Error{Status: 409, Code: CodeIdempotencyKeyReused,
		Message: command + ": the key was already used with another command or body; nothing executed"}
}

// replyMargin is room left for the headers of a reply or result message.
const replyMargin = 2048

// fitOutcome applies the reply-size rule: a success larger than maxPayload
// (minus room for headers) becomes a 413 for a read (cmd.Read), or, for a
// change Auth0 already made, the same success with its body reduced to
// cmd.Summary (default {"user_id": ..., "truncated": true}) and Truncated set.
func fitOutcome(cmd *Command, data []byte, o Outcome, maxPayload int64) Outcome {
	if !o.OK() || maxPayload <= 0 || int64(len(o.Body)) <= maxPayload-replyMargin {
		return o
	}
	if cmd.Read != nil && cmd.Read(data) {
		hint := cmd.TooLargeHint
		if hint == "" {
			hint = "narrow it with \"fields\" or a smaller \"limit\""
		}
		e := &Error{Status: 413, Code: CodeReplyTooLarge,
			Message: cmd.Name + ": the reply is " + strconv.Itoa(len(o.Body)) + " bytes, over the NATS max payload of " + strconv.FormatInt(maxPayload, 10) + "; " + hint}
		return errorOutcome(e)
	}
	summary := cmd.Summary
	if summary == nil {
		summary = userSummary
	}
	o.Body, o.Truncated = summary(o.Body), true
	return o
}

// userSummary is a user-returning change's reduced success.
func userSummary(body []byte) []byte {
	var r struct {
		UserID json.RawMessage `json:"user_id"`
	}
	_ = json.Unmarshal(body, &r)
	if len(r.UserID) == 0 || len(r.UserID) > 4096 {
		r.UserID = json.RawMessage("null")
	}
	return marshalNoEscape(map[string]any{"user_id": r.UserID, "truncated": true})
}

// apiCallSummary is an api.call change's reduced success: Auth0's status.
func apiCallSummary(body []byte) []byte {
	var r struct {
		Status int `json:"status"`
	}
	_ = json.Unmarshal(body, &r)
	return marshalNoEscape(map[string]any{"status": r.Status, "truncated": true})
}
