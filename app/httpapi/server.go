package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/naq-go/events/app/config"
)

// Server serves a handler on a TCP address, guarded by Protect. Start binds
// the address at once (so a busy port, a bad certificate or a missing token
// fails Start, not some later goroutine); Stop ends the streams, lets other
// requests finish and waits for the serving goroutine.
type Server struct {
	addr string
	srv  *http.Server
	log  *slog.Logger
	cfg  serverConfig

	mu       sync.Mutex
	ln       net.Listener
	tls      bool               // serving HTTPS
	cancel   context.CancelFunc // cancels every request's context
	serveErr chan error
}

// serverConfig holds what the ServerOptions set.
type serverConfig struct {
	policy            Policy
	security          *config.HTTPSecurity // loaded at Start; nil: policy as given
	certFile, keyFile string
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
}

// ServerOption configures NewServer.
type ServerOption func(*serverConfig)

// WithPolicy sets the access policy (see Protect). Default the zero Policy:
// no token, read-write, no CORS, DefaultMaxStreams.
func WithPolicy(p Policy) ServerOption { return func(c *serverConfig) { c.policy = p } }

// WithSecurity takes the policy, TLS files and bind rule from the `serve`
// settings: the token is loaded (file or NAQ_HTTP_TOKEN) and the bind rule
// checked at Start, which fails with a message naming the setting when the
// token file is unreadable or the address is beyond loopback without a
// token and without --http-insecure. It replaces WithPolicy and WithTLS.
func WithSecurity(s config.HTTPSecurity) ServerOption {
	return func(c *serverConfig) { c.security = &s }
}

// WithTLS serves HTTPS with the PEM certificate (chain) and key files,
// loaded at Start. Default plain HTTP.
func WithTLS(certFile, keyFile string) ServerOption {
	return func(c *serverConfig) { c.certFile, c.keyFile = certFile, keyFile }
}

// WithTimeouts sets the server's header read, request read and idle
// timeouts. Default DefaultReadHeaderTimeout, DefaultReadTimeout and
// DefaultIdleTimeout; a value ≤ 0 keeps its default. Streams are exempt
// from the read timeout (see Protect).
func WithTimeouts(readHeader, read, idle time.Duration) ServerOption {
	return func(c *serverConfig) {
		if readHeader > 0 {
			c.readHeaderTimeout = readHeader
		}
		if read > 0 {
			c.readTimeout = read
		}
		if idle > 0 {
			c.idleTimeout = idle
		}
	}
}

// WithMaxHeaderBytes caps the request line and headers; larger requests get
// 431. Default DefaultMaxHeaderBytes; n ≤ 0 keeps it.
func WithMaxHeaderBytes(n int) ServerOption {
	return func(c *serverConfig) {
		if n > 0 {
			c.maxHeaderBytes = n
		}
	}
}

// NewServer returns a Server for h on addr (host:port; port 0 picks one).
func NewServer(addr string, h http.Handler, log *slog.Logger, opts ...ServerOption) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg := serverConfig{
		readHeaderTimeout: DefaultReadHeaderTimeout,
		readTimeout:       DefaultReadTimeout,
		idleTimeout:       DefaultIdleTimeout,
		maxHeaderBytes:    DefaultMaxHeaderBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Server{
		addr:   addr,
		log:    log,
		cfg:    cfg,
		cancel: cancel,
		srv: &http.Server{
			Handler:           h, // wrapped by Protect in Start
			ReadHeaderTimeout: cfg.readHeaderTimeout,
			ReadTimeout:       cfg.readTimeout,
			IdleTimeout:       cfg.idleTimeout,
			MaxHeaderBytes:    cfg.maxHeaderBytes,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
}

// resolve turns the settings into the policy and TLS files, checking the
// token file and the bind rule.
func (s *Server) resolve() (Policy, string, string, error) {
	p, cert, key := s.cfg.policy, s.cfg.certFile, s.cfg.keyFile
	sec := s.cfg.security
	if sec == nil {
		return p, cert, key, nil
	}
	tok, err := sec.LoadToken()
	if err != nil {
		return p, "", "", fmt.Errorf("HTTP API: %w", err)
	}
	if err := sec.CheckBind(s.addr, tok != ""); err != nil {
		return p, "", "", err
	}
	p = Policy{Token: tok, ReadOnly: sec.ReadOnly, CORSOrigins: sec.Origins(), MaxStreams: sec.MaxStreams,
		WriteTimeout: p.WriteTimeout, MaxBody: p.MaxBody}
	if tok == "" && !config.IsLoopback(s.addr) {
		s.log.Warn("HTTP API open to anyone who can reach it (--http-insecure)", "addr", s.addr)
	}
	return p, sec.Cert, sec.Key, nil
}

// Start listens and serves in a goroutine that Stop waits for.
func (s *Server) Start(context.Context) error {
	p, cert, key, err := s.resolve()
	if err != nil {
		return err
	}
	if (cert == "") != (key == "") {
		return fmt.Errorf("HTTP API: --http-cert %q and --http-key %q: give both or neither", cert, key)
	}
	var tlsCfg *tls.Config
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return fmt.Errorf("HTTP API: --http-cert %q / --http-key %q: %w; give a PEM certificate and its key", cert, key, err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}}
	}
	s.srv.Handler = Protect(s.srv.Handler, p, s.log)
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("HTTP API cannot listen on %s: %w; pick another --http address (or --http='' to disable it)", s.addr, err)
	}
	if tlsCfg != nil {
		s.srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.mu.Lock()
	s.ln = ln
	s.tls = tlsCfg != nil
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

// URL is the base URL of the server, http:// or https:// and Addr; ""
// before Start.
func (s *Server) URL() string {
	addr := s.Addr()
	if addr == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls {
		return "https://" + addr
	}
	return "http://" + addr
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
