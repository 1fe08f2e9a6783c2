// Package natsconn connects to NATS the way natscli does: the same settings
// (URL, creds, nkey, user/password, token, TLS) from config.NATS, the design's
// reconnect, timeout and ping settings, and connection events logged with
// log/slog.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/app/config"
)

// ErrConfig marks a NATS setting that cannot work (a missing file, half a
// TLS key pair); the message names the flag and its value.
var ErrConfig = errors.New("bad NATS setting")

// ErrUnreachable marks a failed connection; the message names the URL and
// says how to fix it.
var ErrUnreachable = errors.New("NATS unreachable")

// ErrRefused marks a connection the server answered but refused: missing or
// wrong credentials, a certificate it does not accept or a TLS mismatch.
// The message names what is missing and the setting that fixes it.
var ErrRefused = errors.New("NATS refused the connection")

// ClientURL is the URL a client of naq-events connects to: cfg.URL when set,
// otherwise the embedded server of a running `naq-events serve` at
// nats://<EmbeddedHost>:<EmbeddedPort> (a wildcard host becomes 127.0.0.1,
// and a random or unset port becomes nats-server's default 4222).
func ClientURL(cfg config.NATS) string {
	if cfg.URL != "" {
		return cfg.URL
	}
	host := cfg.EmbeddedHost
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "127.0.0.1"
	}
	port := cfg.EmbeddedPort
	if port <= 0 {
		port = 4222
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// Options turns cfg into nats.go options: authentication and TLS as natscli
// reads them, the reconnect, timeout and ping settings, and handlers that log
// disconnects, reconnects, errors and the final close with slog.Default().
// Files named by cfg must exist; otherwise the error wraps ErrConfig and
// names the flag and path.
func Options(cfg config.NATS) ([]nats.Option, error) {
	return options(cfg, nil)
}

// options is Options with the logger to use; nil means slog.Default() at the
// time of each log call.
func options(cfg config.NATS, log *slog.Logger) ([]nats.Option, error) {
	logger := func() *slog.Logger {
		if log != nil {
			return log
		}
		return slog.Default()
	}
	opts := []nats.Option{
		nats.Timeout(cfg.ConnectTimeout),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.MaxReconnects(cfg.MaxReconnects),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(cfg.MaxPingsOut),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				logger().Warn("NATS disconnected", "url", redact(nc.ConnectedUrl()), "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger().Info("NATS reconnected", "url", redact(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if isPermission(err) {
				v, _ := registry.LoadOrStore(nc, &denials{})
				dn, worth := v.(*denials).record(err, time.Now())
				if worth {
					logger().Warn("NATS refused an operation: permissions violation (repeats of this subject are not logged for a minute)",
						"op", dn.op, "subject", dn.subject)
				}
				return
			}
			if sub != nil {
				logger().Error("NATS error", "subject", sub.Subject, "err", err)
				return
			}
			logger().Error("NATS error", "err", err)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			registry.Delete(nc)
			// A permission violation is not why it closed: it was logged
			// when it happened (and Explain reports it).
			if err := nc.LastError(); err != nil && !isPermission(err) {
				logger().Warn("NATS connection closed", "err", err)
			}
		}),
	}
	if cfg.ConnectTimeout < 0 || cfg.ReconnectWait < 0 || cfg.PingInterval < 0 {
		return nil, fmt.Errorf("%w: --connect-timeout %s, --reconnect-wait %s and --ping-interval %s must not be negative",
			ErrConfig, cfg.ConnectTimeout, cfg.ReconnectWait, cfg.PingInterval)
	}
	if cfg.Creds != "" {
		if err := mustExist("--creds", "NATS_CREDS", cfg.Creds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.NKey != "" {
		if err := mustExist("--nkey", "NATS_NKEY", cfg.NKey); err != nil {
			return nil, err
		}
		o, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("%w: --nkey %q: %w; give a file holding an nkey seed (SU…)", ErrConfig, cfg.NKey, err)
		}
		opts = append(opts, o)
	}
	if cfg.User != "" || cfg.Password != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, fmt.Errorf("%w: --tlscert %q and --tlskey %q: give both or neither", ErrConfig, cfg.Cert, cfg.Key)
	}
	if cfg.Cert != "" {
		if err := mustExist("--tlscert", "NATS_CERT", cfg.Cert); err != nil {
			return nil, err
		}
		if err := mustExist("--tlskey", "NATS_KEY", cfg.Key); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(cfg.Cert, cfg.Key))
	}
	if cfg.CA != "" {
		if err := mustExist("--tlsca", "NATS_CA", cfg.CA); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(cfg.CA))
	}
	return opts, nil
}

func mustExist(flag, env, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %s %q (env %s): %w", ErrConfig, flag, path, env, err)
	}
	return nil
}

// Connect connects to ClientURL(cfg) with Options(cfg) as client name. The
// connect timeout is cfg.ConnectTimeout, shortened to ctx's deadline. An
// error wraps ErrUnreachable, ErrRefused or ErrConfig, names the URL and says how to
// fix it.
func Connect(ctx context.Context, cfg config.NATS, name string) (*nats.Conn, error) {
	return connect(ctx, cfg, name, nil)
}

func connect(ctx context.Context, cfg config.NATS, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := options(cfg, log)
	if err != nil {
		return nil, err
	}
	if name != "" {
		opts = append(opts, nats.Name(name))
	}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return nil, fmt.Errorf("connect to NATS at %s: %w", redact(ClientURL(cfg)), context.DeadlineExceeded)
		}
		if cfg.ConnectTimeout <= 0 || left < cfg.ConnectTimeout {
			opts = append(opts, nats.Timeout(left))
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redact(ClientURL(cfg)), err)
	}
	opts = append(opts, extra...)
	u := ClientURL(cfg)
	nc, err := nats.Connect(u, opts...)
	if err != nil {
		return nil, explain(cfg, u, err)
	}
	// Registered for PublishDenied; the closed handler removes it (and so
	// does this, should it have closed already).
	registry.LoadOrStore(nc, &denials{})
	if nc.IsClosed() {
		registry.Delete(nc)
	}
	return nc, nil
}

// explain turns a nats.Connect error into one line naming the URL, what
// is missing or wrong, and the setting that fixes it. It never quotes a
// secret: only the names of the settings given.
func explain(cfg config.NATS, u string, err error) error {
	where := redact(u)
	msg := strings.ToLower(err.Error())
	given := givenAuth(cfg)
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.Contains(msg, "authorization"), strings.Contains(msg, "authentication"):
		if given == "" {
			return fmt.Errorf("%w: NATS at %s requires credentials and none were given (%w); set --creds/NATS_CREDS (a .creds file), "+
				"--nkey/NATS_NKEY (a seed file), --user/NATS_USER with --password/NATS_PASSWORD, or --token/NATS_TOKEN",
				ErrRefused, where, err)
		}
		return fmt.Errorf("%w: NATS at %s refused the credentials given (%s) (%w); check them, or give the right --creds, --nkey, --user/--password or --token",
			ErrRefused, where, given, err)
	case strings.Contains(msg, "certificate required"),
		(strings.Contains(msg, "bad certificate") || strings.Contains(msg, "after tls handshake")) && cfg.Cert == "":
		// TLS 1.3 reports a missing client certificate after the handshake,
		// as "certificate required" or as a closed connection.
		return fmt.Errorf("%w: NATS at %s requires a client certificate (mutual TLS) (%w); give --tlscert/NATS_CERT and --tlskey/NATS_KEY, signed by a CA the server trusts",
			ErrRefused, where, err)
	case strings.Contains(msg, "unknown authority"), strings.Contains(msg, "not valid for any names"),
		strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "x509"):
		ca := "give the CA that signed it with --tlsca/NATS_CA"
		if cfg.CA != "" {
			ca = fmt.Sprintf("--tlsca %q does not vouch for it; give the CA that signed it", cfg.CA)
		}
		return fmt.Errorf("%w: TLS with NATS at %s: the server's certificate is not trusted (%w); %s",
			ErrRefused, where, err, ca)
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate"),
		strings.Contains(msg, "after tls handshake"):
		return fmt.Errorf("%w: NATS at %s refused the client certificate --tlscert %q (%w); give one signed by a CA the server trusts",
			ErrRefused, where, cfg.Cert, err)
	case errors.Is(err, nats.ErrSecureConnWanted), strings.Contains(msg, "secure connection not available"):
		return fmt.Errorf("%w: NATS at %s does not offer TLS (%w); use a nats:// URL, or enable TLS on the server",
			ErrRefused, where, err)
	case errors.Is(err, nats.ErrSecureConnRequired), strings.Contains(msg, "tls"):
		return fmt.Errorf("%w: TLS with NATS at %s failed (%w); check --tlsca/NATS_CA, --tlscert/NATS_CERT and --tlskey/NATS_KEY",
			ErrRefused, where, err)
	}
	hint := "start it or set NATS_URL/--server to a running server"
	if cfg.URL == "" {
		hint = "start `naq-events serve` (it runs an embedded server) or set NATS_URL/--server"
	}
	return fmt.Errorf("%w: cannot reach NATS at %s (%w); %s", ErrUnreachable, where, err, hint)
}

// givenAuth names the credential settings of cfg, without their values:
// "--user naq with --password", "--creds /path", ""
func givenAuth(cfg config.NATS) string {
	var parts []string
	if cfg.Creds != "" {
		parts = append(parts, fmt.Sprintf("--creds %q", cfg.Creds))
	}
	if cfg.NKey != "" {
		parts = append(parts, fmt.Sprintf("--nkey %q", cfg.NKey))
	}
	switch {
	case cfg.User != "" && cfg.Password != "":
		parts = append(parts, fmt.Sprintf("--user %q with --password", cfg.User))
	case cfg.User != "":
		parts = append(parts, fmt.Sprintf("--user %q without --password", cfg.User))
	case cfg.Password != "":
		parts = append(parts, "--password without --user")
	}
	if cfg.Token != "" {
		parts = append(parts, "--token")
	}
	if u, err := url.Parse(strings.TrimSpace(strings.Split(cfg.URL, ",")[0])); err == nil && u.User != nil {
		parts = append(parts, "credentials in the URL")
	}
	return strings.Join(parts, ", ")
}

// redact hides secrets in a URL list: passwords (nats://user:secret@host →
// nats://user:xxxxx@host) and tokens, which nats.go reads from a user
// without password (nats://secret@host → nats://xxxxx@host).
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch u, err := url.Parse(p); {
		case err == nil && u.User != nil:
			if _, has := u.User.Password(); has {
				p = u.Redacted()
			} else {
				u.User = url.User("xxxxx")
				p = u.String()
			}
		case strings.Contains(p, "@"):
			// Userinfo net/url does not see: a URL that does not parse (a
			// bad port or escape) or has no scheme, which nats.go adds.
			p = redactUserinfo(p)
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// redactUserinfo hides what comes before the last '@' of a URL that
// net/url does not parse as having a user: "user:xxxxx@" or "xxxxx@".
func redactUserinfo(p string) string {
	at := strings.LastIndex(p, "@")
	start := 0
	if i := strings.Index(p[:at], "://"); i >= 0 {
		start = i + len("://")
	}
	user := "xxxxx"
	if name, _, hasPassword := strings.Cut(p[start:at], ":"); hasPassword {
		user = name + ":xxxxx"
	}
	return p[:start] + user + p[at:]
}

// Redact hides the passwords and tokens of a NATS URL list, for output.
func Redact(urls string) string { return redact(urls) }

// CloseAndWait closes nc and waits, at most d, until its closed handler
// has run. nats.go runs a connection's callbacks one after the other on one
// goroutine, so by then the warnings of errors reported before it (a
// permission violation, which the command may already have acted on) are
// written: a command that prints its own error after closing prints it
// last. A connection closed already returns at once.
func CloseAndWait(nc *nats.Conn, d time.Duration) {
	if nc.IsClosed() {
		return
	}
	done := make(chan struct{})
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		close(done)
	})
	nc.Close()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
