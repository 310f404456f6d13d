// Package sse is the Server-Sent Events framing shared by the Auth0 client
// (Reader, for the Events API stream) and the emulator (Write, serving it):
// https://html.spec.whatwg.org/multipage/server-sent-events.html.
package sse

// Message is one Server-Sent Events message as framed on the wire.
type Message struct {
	Event   string // "event:" field; "" means "message"
	ID      string // "id:" field; HasID tells an empty id from none
	HasID   bool
	Data    string // "data:" lines joined with "\n"
	Retry   int    // "retry:" in ms; 0 = not set
	Comment string // text of comment lines (": heartbeat"), joined with "\n"
	// TooLarge: the message exceeded the reader's bound; its data was
	// skipped (Data is empty), the other fields are as read.
	TooLarge bool
}
