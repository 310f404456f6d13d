package httpbuf

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriterKeepsTheAnswerUntilSendTo(t *testing.T) {
	b := New()
	b.Header().Set("X-A", "1")
	b.WriteHeader(http.StatusCreated)
	b.WriteHeader(http.StatusTeapot) // ignored: the first status counts
	_, _ = b.Write([]byte("he"))
	_, _ = b.Write([]byte("llo"))
	if b.Status() != http.StatusCreated || string(b.Body()) != "hello" {
		t.Fatalf("kept %d %q, want 201 \"hello\"", b.Status(), b.Body())
	}
	rec := httptest.NewRecorder()
	b.SendTo(rec)
	if rec.Code != http.StatusCreated || rec.Body.String() != "hello" || rec.Header().Get("X-A") != "1" {
		t.Fatalf("sent %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}

func TestWriterStatusIs200WithoutWriteHeader(t *testing.T) {
	empty := New()
	if empty.Status() != http.StatusOK {
		t.Fatalf("nothing written: status %d, want 200", empty.Status())
	}
	b := New()
	_, _ = b.Write([]byte("x"))
	b.WriteHeader(http.StatusNotFound) // after a Write: too late, as in net/http
	if b.Status() != http.StatusOK {
		t.Fatalf("Write then WriteHeader: status %d, want 200", b.Status())
	}
}
