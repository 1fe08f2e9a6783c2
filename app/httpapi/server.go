package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves a handler on a TCP address. Start binds the address at once
// (so a busy port fails Start, not some later goroutine); Stop ends the
// streams, lets other requests finish and waits for the serving goroutine.
type Server struct {
	addr string
	srv  *http.Server
	log  *slog.Logger

	mu       sync.Mutex
	ln       net.Listener
	cancel   context.CancelFunc // cancels every request's context
	serveErr chan error
}

// NewServer returns a Server for h on addr (host:port; port 0 picks one).
func NewServer(addr string, h http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{
		addr:   addr,
		log:    log,
		cancel: cancel,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
}

// Start listens and serves in a goroutine that Stop waits for.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("HTTP API cannot listen on %s: %w; pick another --http address (or --http='' to disable it)", s.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.serveErr = make(chan error, 1)
	s.mu.Unlock()
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	return nil
}

// Addr is the address listened on, with the real port; "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop stops accepting connections, ends open streams (their request
// contexts are cancelled), waits for the other requests until ctx ends and
// then closes what is left.
func (s *Server) Stop(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	serveErr := s.serveErr
	s.mu.Unlock()
	if serveErr == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("HTTP shutdown: %w", err), s.srv.Close())
	}
	if e := <-serveErr; e != nil {
		err = errors.Join(err, fmt.Errorf("HTTP serve: %w", e))
	}
	return err
}
