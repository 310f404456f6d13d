package memhttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// A streamed response arrives message by message, each when the handler's
// (fake) clock says so, and the client's disconnect ends the handler.
func TestStreamOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ended := make(chan struct{})
		s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(ended)
			tick := time.NewTicker(time.Hour)
			defer tick.Stop()
			for i := 0; ; i++ {
				fmt.Fprintf(w, "tick %d\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
			}
		}))
		defer s.Close()
		start := time.Now()
		resp, err := s.Client().Get(URL + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(resp.Body)
		for i := 0; i < 3; i++ {
			line, err := rd.ReadString('\n')
			if err != nil || line != fmt.Sprintf("tick %d\n", i) {
				t.Fatalf("line %d: %q, %v", i, line, err)
			}
			if d := time.Since(start); d != time.Duration(i)*time.Hour {
				t.Fatalf("line %d after %v, want %v", i, d, time.Duration(i)*time.Hour)
			}
		}
		resp.Body.Close()
		<-ended
	})
}

// A client timeout and a slow handler meet on the fake clock.
func TestTimeoutOnFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(time.Minute):
				_, _ = io.WriteString(w, "late")
			case <-r.Context().Done():
			}
		}))
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", URL+"/", nil)
		start := time.Now()
		_, err := s.Client().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 30*time.Second {
			t.Fatalf("err %v after %v, want a deadline after 30s", err, time.Since(start))
		}
	})
}

// While stopped, requests fail as a refused dial; Start serves again.
func TestStopStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		defer s.Close()
		get := func() (string, error) {
			resp, err := s.Client().Get(URL + "/")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		if b, err := get(); err != nil || b != "ok" {
			t.Fatalf("%q, %v", b, err)
		}
		s.Stop()
		var op *net.OpError
		if _, err := get(); !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("while stopped: %v, want a refused dial", err)
		}
		s.Start()
		if b, err := get(); err != nil || b != "ok" {
			t.Fatalf("after Start: %q, %v", b, err)
		}
	})
}

// Close waits for a handler that cannot notice its client leaving (it
// sleeps before reading the body), so the bubble ends with no goroutine left.
func TestCloseWaitsForHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var finished bool
		s := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Minute)
			finished = true
		}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", URL+"/", strings.NewReader("body"))
		if _, err := s.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a deadline", err)
		}
		s.Close()
		if !finished {
			t.Fatal("Close returned before the handler")
		}
	})
}
