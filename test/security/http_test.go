package security

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeHTTPSecurity drives `naq-events serve` (memory storage) as an
// operator would: the bind rule, the bearer token from a file or the
// environment, read-only mode and HTTPS, and checks that the token never
// shows in an output.
func TestServeHTTPSecurity(t *testing.T) {
	out := &outputs{}
	const token = "http-Secret-9d8c7b6a"
	tokenFile := writeFile(t, "token", token+"\n")

	t.Run("refuses to listen beyond loopback without a token", func(t *testing.T) {
		for _, addr := range []string{"0.0.0.0:" + strconv.Itoa(freePort(t)), ":" + strconv.Itoa(freePort(t))} {
			r := run(t, out, baseEnv(t), "", "serve", "--storage", "memory", "--http", addr)
			requireOneLineError(t, r, "refusing to serve the HTTP API on "+addr, "--http-token-file", "--http-insecure")
		}
	})
	t.Run("insecure serves open beyond loopback, and says so", func(t *testing.T) {
		port := freePort(t)
		srv := startServeAt(t, out, baseEnv(t), "http", "0.0.0.0:"+strconv.Itoa(port), "--storage", "memory", "--http-insecure")
		code, _, _ := get(t, httpClient, "GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/api/v1/events/count", "")
		assert.Equal(t, 200, code)
		assert.Contains(t, srv.stderr.String(), "HTTP API open to anyone")
	})
	t.Run("token file, read-only", func(t *testing.T) {
		port := freePort(t)
		srv := startServeAt(t, out, baseEnv(t), "http", "0.0.0.0:"+strconv.Itoa(port), "--storage", "memory",
			"--http-token-file", tokenFile, "--http-read-only")
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		code, body, _ := get(t, httpClient, "GET", base+"/api/v1/events/count", "")
		assert.Equal(t, 401, code, body)
		code, body, _ = get(t, httpClient, "GET", base+"/api/v1/events/count", token)
		assert.Equal(t, 200, code, body)
		code, body, _ = get(t, httpClient, "DELETE", base+"/api/v1/jobs/j-1", token)
		assert.Equal(t, 403, code, body)
		assert.Contains(t, body, "read-only")
		code, body, _ = get(t, httpClient, "GET", base+"/healthz", "")
		assert.Equal(t, 200, code)
		out.add("healthz", body)
		code, body, _ = get(t, httpClient, "GET", base+"/metrics", token)
		assert.Equal(t, 200, code)
		out.add("metrics", body)
		_ = srv
	})
	t.Run("token from the environment over HTTPS", func(t *testing.T) {
		ca := newPKI(t, "http-test")
		cert, key := ca.issue(t, "naq-http")
		env := baseEnv(t, "NAQ_HTTP_TOKEN="+token)
		srv := startServe(t, out, env, "https", "--storage", "memory", "--http-cert", cert, "--http-key", key)
		assert.Contains(t, srv.stdout.String(), "HTTP API on https://127.0.0.1:")
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(ca.CA)
		require.NoError(t, err)
		require.True(t, pool.AppendCertsFromPEM(pem))
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		code, body, _ := get(t, c, "GET", srv.base+"/api/v1/events/count", token)
		assert.Equal(t, 200, code, body)
		code, _, _ = get(t, c, "GET", srv.base+"/api/v1/events/count", "")
		assert.Equal(t, 401, code)
		help := run(t, out, env, "", "serve", "-h")
		require.Equal(t, 0, help.code)
		assert.Contains(t, help.stdout, "-http-token-file")
	})
	t.Run("unreadable token file", func(t *testing.T) {
		r := run(t, out, baseEnv(t), "", "serve", "--storage", "memory", "--http", "127.0.0.1:0", "--http-token-file", "/nonexistent/token")
		requireOneLineError(t, r, `--http-token-file "/nonexistent/token"`)
	})
	out.requireNoSecret(t, token)
}
