package httpapi

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy is what Protect enforces on every request. The zero Policy adds
// only the security headers, the body cap and the write deadline.
type Policy struct {
	// Token, when set, is required on every request but GET /healthz and
	// CORS preflights, as "Authorization: Bearer <token>" or as the
	// password of HTTP Basic auth (any user name; browsers ask for it
	// themselves, and then send it with EventSource requests too). It is
	// compared in constant time and never logged.
	Token string
	// ReadOnly answers 403 to every method but GET, HEAD and OPTIONS.
	ReadOnly bool
	// CORSOrigins are the browser origins allowed to call the API ("*" for
	// any). Empty: no CORS headers, so browsers keep other origins out.
	CORSOrigins []string
	// MaxStreams bounds the concurrent streams (GET /api/v1/stream and any
	// request accepting text/event-stream); beyond it 503 with Retry-After.
	// ≤ 0: DefaultMaxStreams.
	MaxStreams int
	// WriteTimeout is the write deadline of each request that is not a
	// stream (streams have none: they last). ≤ 0: DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxBody caps every request body, bytes. ≤ 0: MaxBody.
	MaxBody int64
}

// Defaults of Policy and of the Server's timeouts.
const (
	DefaultMaxStreams        = 256
	DefaultWriteTimeout      = time.Minute
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	// StreamRetryAfter is the Retry-After of a stream refused for the
	// MaxStreams limit, seconds.
	StreamRetryAfter = 5
	// StreamPath is the path of the API's live stream.
	StreamPath = "/api/v1/stream"
)

// Content-Security-Policy values Protect sets when a handler sets none:
// HTML pages may load what the server itself serves (no inline scripts);
// every other answer may load nothing.
const (
	HTMLContentSecurityPolicy  = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	OtherContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
)

// Protect wraps h with p, outermost first:
//
//   - security headers on every answer (X-Content-Type-Options nosniff,
//     X-Frame-Options DENY, Referrer-Policy no-referrer, a
//     Content-Security-Policy unless h sets one, HSTS over TLS);
//   - CORS for p.CORSOrigins only (preflights answered here);
//   - writes (POST, DELETE, …) from browser pages of other origins than
//     p.CORSOrigins are a 403 (http.CrossOriginProtection: Sec-Fetch-Site,
//     else Origin against Host), so a cross-site form cannot post events
//     with a browser's cached credentials; none with CORS origin "*";
//   - the bearer token, when p.Token is set (401 otherwise; GET /healthz
//     stays open for probes);
//   - read-only mode (403 for writes);
//   - a query string that does not parse is a 400 (net/url would drop the
//     bad pairs and widen the query);
//   - the body cap (413 once a handler reads past it);
//   - the stream limit (503 + Retry-After) and the deadlines: a write
//     deadline of p.WriteTimeout for ordinary requests, none (and no read
//     deadline) for streams, so a server ReadTimeout never ends them.
//
// The service's Server applies it to its whole handler, so anything mounted
// on the API (the dashboard) is covered; use Protect directly to guard a
// handler served some other way.
func Protect(h http.Handler, p Policy, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	if p.MaxStreams <= 0 {
		p.MaxStreams = DefaultMaxStreams
	}
	if p.WriteTimeout <= 0 {
		p.WriteTimeout = DefaultWriteTimeout
	}
	if p.MaxBody <= 0 {
		p.MaxBody = MaxBody
	}
	g := &guard{next: h, p: p, log: log, streams: make(chan struct{}, p.MaxStreams)}
	// Browsers send a cross-site form POST without a preflight, with the
	// Basic credentials they cached (and to a loopback server, which needs
	// none): refuse writes from pages of other origins than the CORS ones.
	if !slices.Contains(p.CORSOrigins, "*") {
		g.csrf = http.NewCrossOriginProtection()
		for _, o := range p.CORSOrigins {
			if err := g.csrf.AddTrustedOrigin(o); err != nil {
				log.Warn("HTTP API: CORS origin not trusted for writes", "origin", o, "err", err)
			}
		}
	}
	if p.Token != "" {
		sum := sha256.Sum256([]byte(p.Token))
		g.tokenSum = sum[:]
	}
	return g
}

type guard struct {
	next     http.Handler
	p        Policy
	log      *slog.Logger
	tokenSum []byte // sha256 of the token; nil: no auth
	streams  chan struct{}
	csrf     *http.CrossOriginProtection // nil: CORS "*" trusts every origin
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &headerWriter{ResponseWriter: w}
	w = sw
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}

	if origin := r.Header.Get("Origin"); origin != "" && len(g.p.CORSOrigins) > 0 {
		if g.cors(w, r, origin) {
			return
		}
	}
	if g.csrf != nil {
		if err := g.csrf.Check(r); err != nil {
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s %s from a page of another origin (%s): refused (%v); call the API from that origin's server, or allow it with --http-cors-origins",
				r.Method, r.URL.Path, cmp.Or(r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")), err))
			return
		}
	}
	probe := r.Method == http.MethodGet && r.URL.Path == "/healthz"
	if g.tokenSum != nil && !probe && !g.authorized(r) {
		g.deny(w, r)
		return
	}
	if g.p.ReadOnly {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			writeError(w, http.StatusForbidden, fmt.Sprintf("%s %s: this server is read-only (--http-read-only); only GET and HEAD are served", r.Method, r.URL.Path))
			return
		}
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		// r.URL.Query() drops what does not parse, which would widen a
		// query silently.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed query string: %v; percent-encode parameter values", err))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, g.p.MaxBody)
	}
	rc := http.NewResponseController(w)
	if !isStream(r) {
		_ = rc.SetWriteDeadline(time.Now().Add(g.p.WriteTimeout)) // unsupported writers (tests) have none
		g.next.ServeHTTP(w, r)
		return
	}
	select {
	case g.streams <- struct{}{}:
		defer func() { <-g.streams }()
	default:
		w.Header().Set("Retry-After", strconv.Itoa(StreamRetryAfter))
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"too many live streams (%d, the --http-max-streams limit); retry in %d s", g.p.MaxStreams, StreamRetryAfter))
		return
	}
	// A stream lasts: no read deadline (a server ReadTimeout would cancel
	// its context) and no write deadline.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	g.next.ServeHTTP(w, r)
}

// isStream reports whether r asks for a long-lived event stream.
func isStream(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		(r.URL.Path == StreamPath || strings.Contains(r.Header.Get("Accept"), "text/event-stream"))
}

// authorized checks the token of r in constant time.
func (g *guard) authorized(r *http.Request) bool {
	var got string
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		got = strings.TrimSpace(cred)
	case strings.EqualFold(scheme, "Basic"):
		_, pw, ok := r.BasicAuth()
		if !ok {
			return false
		}
		got = pw
	default:
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], g.tokenSum) == 1
}

func (g *guard) deny(w http.ResponseWriter, r *http.Request) {
	msg := "missing credentials: send Authorization: Bearer <token> (the token of --http-token-file or NAQ_HTTP_TOKEN)"
	if r.Header.Get("Authorization") != "" {
		msg = "wrong credentials: the bearer token does not match the server's (--http-token-file or NAQ_HTTP_TOKEN)"
	}
	g.log.Debug("HTTP request refused: no valid token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	w.Header().Add("WWW-Authenticate", `Bearer realm="naq-events"`)
	w.Header().Add("WWW-Authenticate", `Basic realm="naq-events", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, msg)
}

// cors handles the Origin of r; it returns true when it has answered (a
// preflight).
func (g *guard) cors(w http.ResponseWriter, r *http.Request, origin string) bool {
	allowed := slices.Contains(g.p.CORSOrigins, origin)
	wildcard := slices.Contains(g.p.CORSOrigins, "*")
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !allowed && !wildcard {
		if preflight {
			writeError(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed (--http-cors-origins)", origin))
			return true
		}
		return false // no CORS headers: the browser keeps the answer from the page
	}
	if allowed {
		h.Set("Access-Control-Allow-Origin", origin)
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if !preflight {
		return false
	}
	methods := "GET, HEAD, POST, DELETE"
	if g.p.ReadOnly {
		methods = "GET, HEAD"
	}
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// headerWriter sets a Content-Security-Policy, by content type, on answers
// whose handler set none.
type headerWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *headerWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		if h.Get("Content-Security-Policy") == "" {
			if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				h.Set("Content-Security-Policy", HTMLContentSecurityPolicy)
			} else {
				h.Set("Content-Security-Policy", OtherContentSecurityPolicy)
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what is buffered, for handlers that assert http.Flusher.
func (w *headerWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines).
func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
