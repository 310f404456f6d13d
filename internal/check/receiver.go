package check

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// ItemReceiver is the Auth0 Event Streams receiver's line.
const ItemReceiver = "receiver"

// Receiver is the receiver's configuration as check sees it (no secrets).
type Receiver struct {
	// Addr is WEBHOOK_ADDR; "" = no receiver.
	Addr string
	// Credentials is "bearer", "basic" or "" (none configured).
	Credentials string
	// TLS: WEBHOOK_TLS_CERT/KEY set.
	TLS bool
}

// receiverCheck reports whether the address can be bound and credentials
// are present. An address in use is a warning: most likely a worker already
// running on this host.
func (d Deps) receiverCheck() Result {
	r := d.Receiver
	if r.Addr == "" {
		if wantsLifeCycle(d.EventTypes) {
			return Result{ItemReceiver, Pass, "off (WEBHOOK_ADDR unset); updates and deletions come from the Events API only"}
		}
		return Result{ItemReceiver, Pass, "off (WEBHOOK_ADDR unset)"}
	}
	if r.Credentials == "" {
		return Result{ItemReceiver, Fail, "WEBHOOK_ADDR " + r.Addr + " is set without credentials (WEBHOOK_BEARER_TOKEN or WEBHOOK_BASIC_USER + WEBHOOK_BASIC_PASSWORD)"}
	}
	tls := "plain HTTP (terminate TLS in front of it)"
	if r.TLS {
		tls = "TLS"
	}
	detail := fmt.Sprintf("POST %s on %s, %s credentials, %s, event types %s", "/auth0/events", r.Addr, r.Credentials, tls, strings.Join(d.EventTypes, ","))
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return Result{ItemReceiver, Warn, detail + "; the address is in use (a worker already running here?)"}
		}
		return Result{ItemReceiver, Fail, "cannot listen on WEBHOOK_ADDR " + r.Addr + ": " + err.Error()}
	}
	_ = ln.Close()
	return Result{ItemReceiver, Pass, detail + "; address can be bound"}
}

func wantsLifeCycle(types []string) bool {
	for _, t := range types {
		if t == "user.updated" || t == "user.deleted" {
			return true
		}
	}
	return false
}
