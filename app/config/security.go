package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// HTTPSecurity is who may use the HTTP API of `serve` and how it is served.
// It is embedded in HTTP, so its fields read cfg.HTTP.ReadOnly.
type HTTPSecurity struct {
	// TokenFile holds the bearer token clients must send (first line, spaces
	// trimmed). --http-token-file, NAQ_HTTP_TOKEN_FILE. Default none.
	TokenFile string
	// Token is the bearer token itself, from NAQ_HTTP_TOKEN only (no flag:
	// a flag would show it in ps). TokenFile wins when both are set. It is
	// a secret: never logged, printed or shown in --help.
	Token string
	// ReadOnly serves GET and HEAD only: DELETE and POST answer 403.
	// --http-read-only, NAQ_HTTP_READ_ONLY. Default false.
	ReadOnly bool
	// Cert and Key are a PEM certificate (chain) and key: the API is served
	// over HTTPS. --http-cert/--http-key, NAQ_HTTP_CERT/NAQ_HTTP_KEY; both
	// or neither. Default none (plain HTTP).
	Cert, Key string
	// Insecure allows listening beyond loopback without a token.
	// --http-insecure, NAQ_HTTP_INSECURE. Default false: serve refuses.
	Insecure bool
	// CORSOrigins are the origins allowed to call the API from a browser
	// (comma separated, exact matches, or "*"). --http-cors-origins,
	// NAQ_HTTP_CORS_ORIGINS. Default none: no CORS headers at all.
	CORSOrigins string
	// MaxStreams bounds the concurrent Server-Sent Event streams; beyond it
	// a new stream gets 503 with Retry-After. --http-max-streams,
	// NAQ_HTTP_MAX_STREAMS. Default DefaultMaxStreams; want at least 1.
	MaxStreams int
}

// DefaultMaxStreams is the default of HTTPSecurity.MaxStreams.
const DefaultMaxStreams = 256

// secretValue is a string flag whose value is never shown: --help prints
// no default for it and String() is empty, so a secret from the
// environment cannot leak through the flag set.
type secretValue struct{ p *string }

func (s secretValue) String() string     { return "" }
func (s secretValue) Set(v string) error { *s.p = v; return nil }

// secretVar defines a string flag for a secret: its default comes from env
// (read through getenv), and --help shows "(env ENV, hidden)" instead of
// the value.
func secretVar(fs *flag.FlagSet, getenv Getenv, p *string, name, env, usage string) {
	if v := getenv(env); v != "" {
		*p = v
	}
	fs.Var(secretValue{p}, name, usage+" (env "+env+"; the value is never shown)")
}

// registerSecurityFlags defines the HTTP security flags, with defaults from
// the environment like RegisterFlags; boolean and integer variables that do
// not parse are returned as *EnvError.
func (c *Config) registerSecurityFlags(fs *flag.FlagSet, getenv Getenv) []error {
	s := &c.HTTP.HTTPSecurity
	if s.MaxStreams == 0 {
		s.MaxStreams = DefaultMaxStreams
	}
	var errs []error
	str := func(p *string, name, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+env+")")
	}
	boolean := func(p *bool, name, env, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, &EnvError{Var: env, Value: v, Flag: name, Want: "true or false"})
			} else {
				*p = b
			}
		}
		fs.BoolVar(p, name, *p, usage+" (env "+env+")")
	}
	str(&s.TokenFile, "http-token-file", "NAQ_HTTP_TOKEN_FILE", "file holding the bearer token HTTP clients must send (or the token itself in NAQ_HTTP_TOKEN)")
	if v := getenv("NAQ_HTTP_TOKEN"); v != "" {
		s.Token = v
	}
	boolean(&s.ReadOnly, "http-read-only", "NAQ_HTTP_READ_ONLY", "HTTP API: serve GET and HEAD only (DELETE and POST answer 403)")
	str(&s.Cert, "http-cert", "NAQ_HTTP_CERT", "HTTP API: PEM certificate to serve HTTPS with (with --http-key)")
	str(&s.Key, "http-key", "NAQ_HTTP_KEY", "HTTP API: PEM key of --http-cert")
	boolean(&s.Insecure, "http-insecure", "NAQ_HTTP_INSECURE", "HTTP API: allow listening beyond loopback without a token")
	str(&s.CORSOrigins, "http-cors-origins", "NAQ_HTTP_CORS_ORIGINS", "HTTP API: browser origins allowed by CORS, comma separated (default none: CORS off)")
	if v := getenv("NAQ_HTTP_MAX_STREAMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, &EnvError{Var: "NAQ_HTTP_MAX_STREAMS", Value: v, Flag: "http-max-streams", Want: "an integer"})
		} else {
			s.MaxStreams = n
		}
	}
	fs.IntVar(&s.MaxStreams, "http-max-streams", s.MaxStreams, "HTTP API: concurrent live streams at most; more get 503 (env NAQ_HTTP_MAX_STREAMS)")
	return errs
}

// ErrInsecureBind is wrapped by HTTPSecurity.CheckBind's error.
var ErrInsecureBind = errors.New("HTTP API open beyond loopback")

// validateSecurity checks the HTTP security settings that need no file.
func (c *Config) validateSecurity() error {
	s := c.HTTP.HTTPSecurity
	if (s.Cert == "") != (s.Key == "") {
		return fmt.Errorf("--http-cert %q and --http-key %q: give both or neither", s.Cert, s.Key)
	}
	if s.MaxStreams < 1 {
		return fmt.Errorf("--http-max-streams %d: want at least 1", s.MaxStreams)
	}
	for o := range strings.SplitSeq(s.CORSOrigins, ",") {
		o = strings.TrimSpace(o)
		if o == "" || o == "*" {
			continue
		}
		// A browser's Origin is scheme://host[:port] exactly: an origin with
		// a path (even a trailing "/") would never match one.
		u, err := url.Parse(o)
		if (!strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://")) ||
			err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "?") {
			return fmt.Errorf("--http-cors-origins: origin %q: want scheme://host[:port] like https://app.example.com (no path, not even a trailing /), or *", o)
		}
	}
	return nil
}

// Origins returns the CORS origins, trimmed, without empty ones.
func (s HTTPSecurity) Origins() []string {
	var out []string
	for o := range strings.SplitSeq(s.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// LoadToken returns the bearer token: the first line of TokenFile, else
// Token; "" when neither is set. A token file that cannot be read or is
// empty is an error naming the flag and path (never the token).
func (s HTTPSecurity) LoadToken() (string, error) {
	if s.TokenFile == "" {
		return strings.TrimSpace(s.Token), nil
	}
	b, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("--http-token-file %q (env NAQ_HTTP_TOKEN_FILE): %w", s.TokenFile, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", fmt.Errorf("--http-token-file %q (env NAQ_HTTP_TOKEN_FILE): the first line is empty; write the token there", s.TokenFile)
	}
	return tok, nil
}

// CheckBind enforces the bind rule: an address that is not loopback
// (0.0.0.0, ::, a host name other than localhost, or an empty host) needs
// a token, unless Insecure is set. hasToken says whether a token was
// loaded. The error wraps ErrInsecureBind and says how to fix it.
func (s HTTPSecurity) CheckBind(addr string, hasToken bool) error {
	if hasToken || s.Insecure || IsLoopback(addr) {
		return nil
	}
	return fmt.Errorf("%w: refusing to serve the HTTP API on %s without authentication; "+
		"set --http-token-file (or NAQ_HTTP_TOKEN), bind to 127.0.0.1, or give --http-insecure to serve it open",
		ErrInsecureBind, addr)
}

// IsLoopback reports whether the host of addr (host:port) is a loopback
// address or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
