package poller

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auth0-worker/auth0-worker/emulator"
	"github.com/auth0-worker/auth0-worker/internal/testpki"
	"github.com/auth0-worker/auth0-worker/internal/testredis"
)

// WEBHOOK_TLS_CERT/KEY: the receiver speaks TLS; a client that does not
// finish its headers is cut off after the header timeout.
func TestReceiverTLSAndHeaderTimeout(t *testing.T) {
	r := newRigNATS(t, false, testredis.Options{}, nil, emulator.Knobs{})
	pki := testpki.New(t)
	pool := pki.CAPool
	url, _ := r.startReceiver(t, WebhookOptions{TLSCert: pki.ServerCert, TLSKey: pki.ServerKey, ReadHeaderTimeout: 300 * time.Millisecond})
	url = strings.Replace(url, "http://", "https://", 1)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(cloudEvent("user.created", "auth0|tls", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "")))
	req.Header.Set("Authorization", "Bearer "+hookToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || len(r.streamMsgs(t)) != 1 {
		t.Fatalf("over TLS: %d, %d messages", resp.StatusCode, len(r.streamMsgs(t)))
	}

	// A slow client: TLS done, half a request line, then nothing.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(url, WebhookPath), "https://"), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /auth0/events HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			break // closed by the server
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a stalled header held the connection %v (ReadHeaderTimeout 300ms)", el)
	}
}
