package config

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parseWith(t *testing.T, env map[string]string, args ...string) (Config, *flag.FlagSet, error) {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	err := c.RegisterFlags(fs, func(k string) string { return env[k] })
	require.NoError(t, fs.Parse(args))
	return c, fs, EnvErrors(err, fs)
}

func TestSecurityFlags(t *testing.T) {
	c, _, err := parseWith(t, map[string]string{
		"NAQ_HTTP_TOKEN": "env-token", "NAQ_HTTP_READ_ONLY": "true", "NAQ_HTTP_MAX_STREAMS": "7",
		"NAQ_HTTP_CORS_ORIGINS": "https://a.example, https://b.example",
	}, "--http-cert", "c.pem", "--http-key", "k.pem", "--http-insecure")
	require.NoError(t, err)
	s := c.HTTP.HTTPSecurity
	assert.Equal(t, "env-token", s.Token)
	assert.True(t, s.ReadOnly)
	assert.True(t, s.Insecure)
	assert.Equal(t, 7, s.MaxStreams)
	assert.Equal(t, []string{"https://a.example", "https://b.example"}, s.Origins())
	assert.Equal(t, "c.pem", s.Cert)

	d, _, err := parseWith(t, nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxStreams, d.HTTP.MaxStreams)
	assert.False(t, d.HTTP.ReadOnly)

	_, _, err = parseWith(t, map[string]string{"NAQ_HTTP_MAX_STREAMS": "many", "NAQ_HTTP_READ_ONLY": "maybe"})
	require.ErrorIs(t, err, ErrEnv)
	assert.Contains(t, err.Error(), `NAQ_HTTP_MAX_STREAMS="many"`)
	assert.Contains(t, err.Error(), `NAQ_HTTP_READ_ONLY="maybe"`)
	_, _, err = parseWith(t, map[string]string{"NAQ_HTTP_MAX_STREAMS": "many"}, "--http-max-streams", "3")
	assert.NoError(t, err, "the flag overrides the bad variable")
}

// TestSecretFlagsHidden: --help never shows a password or token from the
// environment (it did: flag's default is the value), yet they are set.
func TestSecretFlagsHidden(t *testing.T) {
	const pw, tok, httpTok = "pw-from-env-1", "tok-from-env-2", "http-from-env-3"
	c, fs, err := parseWith(t, map[string]string{"NATS_PASSWORD": pw, "NATS_TOKEN": tok, "NAQ_HTTP_TOKEN": httpTok})
	require.NoError(t, err)
	assert.Equal(t, pw, c.NATS.Password)
	assert.Equal(t, tok, c.NATS.Token)
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	for _, s := range []string{pw, tok, httpTok} {
		assert.NotContains(t, help.String(), s)
	}
	assert.Contains(t, help.String(), "NATS password (env NATS_PASSWORD; the value is never shown)")

	c, _, err = parseWith(t, map[string]string{"NATS_PASSWORD": pw}, "--password", "from-flag")
	require.NoError(t, err)
	assert.Equal(t, "from-flag", c.NATS.Password)
}

func TestValidateSecurity(t *testing.T) {
	tests := []struct {
		name string
		set  func(*HTTPSecurity)
		want string
	}{
		{"half pair", func(s *HTTPSecurity) { s.Cert = "c.pem" }, `--http-cert "c.pem" and --http-key "": give both or neither`},
		{"no streams", func(s *HTTPSecurity) { s.MaxStreams = 0 }, "--http-max-streams 0: want at least 1"},
		{"bad origin", func(s *HTTPSecurity) { s.CORSOrigins = "a.example" }, `origin "a.example"`},
		{"origin with a path", func(s *HTTPSecurity) { s.CORSOrigins = "https://a.example/" }, `origin "https://a.example/"`},
		{"good", func(s *HTTPSecurity) { s.CORSOrigins = "*, https://x.example:8443" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c.HTTP.HTTPSecurity)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCheckBind(t *testing.T) {
	for addr, loopback := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true, "127.9.9.9:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.1.2.3:80": false, "example.com:80": false,
	} {
		assert.Equal(t, loopback, IsLoopback(addr), addr)
		err := HTTPSecurity{}.CheckBind(addr, false)
		if loopback {
			assert.NoError(t, err, addr)
			continue
		}
		require.ErrorIs(t, err, ErrInsecureBind, addr)
		assert.Contains(t, err.Error(), addr)
		assert.NoError(t, HTTPSecurity{}.CheckBind(addr, true), "a token allows %s", addr)
		assert.NoError(t, HTTPSecurity{Insecure: true}.CheckBind(addr, false), "--http-insecure allows %s", addr)
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tok")
	require.NoError(t, os.WriteFile(good, []byte("  file-token \nsecond line\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))

	tok, err := HTTPSecurity{TokenFile: good, Token: "env"}.LoadToken()
	require.NoError(t, err)
	assert.Equal(t, "file-token", tok, "the file wins, first line, trimmed")
	tok, err = HTTPSecurity{Token: " env "}.LoadToken()
	require.NoError(t, err)
	assert.Equal(t, "env", tok)
	_, err = HTTPSecurity{TokenFile: empty}.LoadToken()
	assert.ErrorContains(t, err, "the first line is empty")
	_, err = HTTPSecurity{TokenFile: filepath.Join(dir, "missing")}.LoadToken()
	assert.ErrorContains(t, err, "--http-token-file")
}
