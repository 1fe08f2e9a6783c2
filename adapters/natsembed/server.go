package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrNotReady is returned when the server did not accept connections in
// time.
var ErrNotReady = errors.New("natsembed: server not ready for connections")

// Server is an in-process nats-server with JetStream. Its methods are safe
// for concurrent use.
type Server struct {
	cfg     config
	tempDir bool // storeDir was created by Start and is removed by Shutdown

	mu   sync.Mutex
	ns   *server.Server // nil while stopped
	port int            // the port actually bound; kept across restarts
	done bool           // Shutdown was called
}

// Start starts a server and waits until it accepts connections. An option
// value out of range fails with an error wrapping ports.ErrInvalid.
func Start(opts ...Option) (*Server, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, port: cfg.port}
	if s.cfg.storeDir == "" {
		dir, err := os.MkdirTemp("", "natsembed-*")
		if err != nil {
			return nil, fmt.Errorf("natsembed: create store dir: %w", err)
		}
		s.cfg.storeDir, s.tempDir = dir, true
	}
	s.mu.Lock()
	err := s.startLocked()
	s.mu.Unlock()
	if err != nil {
		if s.tempDir {
			_ = os.RemoveAll(s.cfg.storeDir)
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) startLocked() error {
	o := &server.Options{
		Host:       s.cfg.host,
		Port:       s.port,
		ServerName: s.cfg.serverName,
		MaxPayload: s.cfg.maxPayload,
		JetStream:  true,
		StoreDir:   s.cfg.storeDir,
		NoSigs:     true,
		NoLog:      s.cfg.logger == nil,
	}
	if l := s.cfg.logger; l != nil {
		o.Debug = l.Enabled(context.Background(), slog.LevelDebug)
		o.Trace = l.Enabled(context.Background(), slog.LevelDebug-4)
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("natsembed: new server on %s:%d, store %s: %w", s.cfg.host, s.port, s.cfg.storeDir, err)
	}
	if l := s.cfg.logger; l != nil {
		ns.SetLoggerV2(slogBridge{l}, o.Debug, o.Trace, false)
	}
	ns.Start() // returns once the accept loop runs; readiness is checked below
	if !ns.ReadyForConnections(s.cfg.readyWait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return fmt.Errorf("%w: %s:%d after %s", ErrNotReady, s.cfg.host, s.port, s.cfg.readyWait)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return fmt.Errorf("%w: JetStream not enabled (store %s)", ErrNotReady, s.cfg.storeDir)
	}
	if a, ok := ns.Addr().(*net.TCPAddr); ok {
		s.port = a.Port
	}
	s.ns = ns
	return nil
}

// ClientURL returns the URL clients connect to, e.g. nats://127.0.0.1:41234.
// It stays the same across Stop and Restart.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort(s.cfg.host, strconv.Itoa(s.port))
}

// Port returns the client port the server is (or was last) bound to.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// StoreDir returns the JetStream store directory.
func (s *Server) StoreDir() string { return s.cfg.storeDir }

// NATS returns the running nats-server, or nil while stopped. Use it for
// what this package does not wrap (JetStream config, connection counts).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// Running reports whether the server is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns != nil
}

// Stop shuts the server down and waits for it, keeping its store directory
// and port for Restart. Connected clients see a disconnect. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.ns == nil {
		return
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns = nil
}

// Restart starts the server again on the same store directory, host, port
// and options, stopping it first if it runs, and waits until it accepts
// connections. Clients that reconnect find their streams and data. After
// Shutdown it returns an error.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errors.New("natsembed: restart after Shutdown")
	}
	s.stopLocked()
	return s.startLocked()
}

// Shutdown stops the server, waits for it, and removes the store directory
// if Start created it. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if !s.done && s.tempDir {
		_ = os.RemoveAll(s.cfg.storeDir)
	}
	s.done = true
}

// slogBridge adapts a *slog.Logger to nats-server's Logger.
type slogBridge struct{ l *slog.Logger }

func (b slogBridge) log(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, fmt.Sprintf(format, v...), "component", "nats-server")
}

func (b slogBridge) Noticef(format string, v ...any) { b.log(slog.LevelInfo, format, v) }
func (b slogBridge) Warnf(format string, v ...any)   { b.log(slog.LevelWarn, format, v) }
func (b slogBridge) Fatalf(format string, v ...any)  { b.log(slog.LevelError, format, v) }
func (b slogBridge) Errorf(format string, v ...any)  { b.log(slog.LevelError, format, v) }
func (b slogBridge) Debugf(format string, v ...any)  { b.log(slog.LevelDebug, format, v) }
func (b slogBridge) Tracef(format string, v ...any)  { b.log(slog.LevelDebug-4, format, v) }
