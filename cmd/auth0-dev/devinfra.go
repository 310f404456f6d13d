package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"
)

// devNATS starts the embedded NATS server of `dev`: JetStream with its data
// under dir, on port 4222 or a free port when 4222 is taken.
func devNATS(dir string, log *slog.Logger) (*server.Server, error) {
	port := 4222
	if !portFreeAddr("127.0.0.1:" + strconv.Itoa(port)) {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "auth0-worker-dev",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "nats"),
		NoSigs:     true,
		NoLog:      true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready within 10s")
	}
	if port != 4222 {
		log.Warn("port 4222 is taken; embedded NATS uses a free port instead", "url", ns.ClientURL())
	}
	return ns, nil
}

// devRedis starts a Redis-protocol store for `dev`: a real redis-server
// child process when one is on PATH (data under dir, AOF on), otherwise an
// in-process store whose dedupe state is lost at exit. stop ends it.
func devRedis(dir string, log *slog.Logger) (url string, stop func(), err error) {
	if bin, lookErr := exec.LookPath("redis-server"); lookErr == nil {
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		rdir := filepath.Join(dir, "redis")
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return "", nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", rdir,
			"--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", "redis.log")
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("redis-server: %w", err)
		}
		stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
		url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		if err := waitRedis(url, 10*time.Second); err != nil {
			stop()
			return "", nil, fmt.Errorf("redis-server: %w", err)
		}
		log.Info("redis-server started", "url", url, "dir", rdir)
		return url, stop, nil
	}
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return "", nil, fmt.Errorf("in-process redis: %w", err)
	}
	log.Warn("redis-server not found on PATH: using an in-process store; dedupe state, cursors and command outcomes are NOT persisted across restarts (apt-get install redis-server)")
	return "redis://" + mr.Addr() + "/0", mr.Close, nil
}

func waitRedis(url string, within time.Duration) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = rdb.Ping(ctx).Err()
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // polling a starting process; no event to wait on
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
