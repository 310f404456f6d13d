package emulatortest

import (
	"encoding/json"
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/auth0-worker/auth0-worker/emulator"
)

// TestRestartKeepsState: Stop refuses connections, Start and Restart listen
// again on the same URL, and the tenant's users survive.
func TestRestartKeepsState(t *testing.T) {
	restartKeepsState(t, NewServer(t, emulator.Config{}))
}

// The same over in-memory connections, on the bubble's clock.
func TestRestartKeepsStateInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		restartKeepsState(t, NewServer(t, emulator.Config{}, InMemory()))
	})
}

func restartKeepsState(t *testing.T, s *Server) {
	if _, err := s.Emulator.CreateUsers([]emulator.SeedUser{{Email: "r@example.com", Indexed: true}}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := s.Client().Get(s.URL + "/api/v2/users"); err == nil {
		t.Fatal("server still answering while stopped")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	req, _ := http.NewRequest("GET", s.URL+"/api/v2/users", nil)
	req.Header.Set("Authorization", "Bearer "+s.Emulator.IssueToken(s.ClientID))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var users []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&users); err != nil || resp.StatusCode != 200 || len(users) != 1 {
		t.Fatalf("after restart: status %d, users %v, err %v", resp.StatusCode, users, err)
	}
}
