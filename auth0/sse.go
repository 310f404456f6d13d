package auth0

import (
	"io"

	"github.com/auth0-worker/auth0-worker/internal/sse"
)

// MaxSSEMessageSize is NewSSEReader's bound on one SSE message (all its
// lines together): a user may hold 2 × 16 MB of metadata. The bound keeps a
// broken or hostile stream from growing memory without limit.
const MaxSSEMessageSize = DefaultMaxResponseBytes

// SSEReader parses a Server-Sent Events byte stream into messages
// (internal/sse states the rules it follows). It is not safe for concurrent use.
type SSEReader = sse.Reader

// NewSSEReader reads messages from r, each up to MaxSSEMessageSize.
func NewSSEReader(r io.Reader) *SSEReader { return NewSSEReaderSize(r, MaxSSEMessageSize) }

// NewSSEReaderSize reads messages from r, each up to max bytes (≤ 0 =
// MaxSSEMessageSize). A larger message is skipped to its end and returned
// with TooLarge set and no Data.
func NewSSEReaderSize(r io.Reader, max int) *SSEReader {
	if max <= 0 {
		max = MaxSSEMessageSize
	}
	return sse.NewReader(r, max)
}
