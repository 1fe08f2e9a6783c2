package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/domain/event"
)

const testToken = "t0ken-for-tests-4f1c"

// startServer starts a Server on 127.0.0.1:0 over a memory store's API.
func startServer(t *testing.T, h http.Handler, opts ...ServerOption) *Server {
	t.Helper()
	srv := NewServer("127.0.0.1:0", h, nil, opts...)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, srv.Stop(ctx))
	})
	return srv
}

func memAPI(t *testing.T, opts ...Option) *API {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	require.NoError(t, store.StoreBatch(context.Background(), []event.JobEvent{event.Enqueued("g-1", "q", 1)}))
	return New(store, opts...)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, client *http.Client, method, url string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func TestProtect_Token(t *testing.T) {
	srv := startServer(t, memAPI(t), WithPolicy(Policy{Token: testToken}))
	base := srv.URL()
	c := http.DefaultClient
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		want               int
		body               string
	}{
		{"no token", "GET", "/api/v1/jobs/g-1/events", nil, 401, "missing credentials"},
		{"wrong token", "GET", "/api/v1/jobs/g-1/events", map[string]string{"Authorization": "Bearer nope"}, 401, "wrong credentials"},
		{"token prefix", "GET", "/api/v1/jobs/g-1/events", map[string]string{"Authorization": "Bearer " + testToken[:5]}, 401, "wrong"},
		{"other scheme", "GET", "/api/v1/jobs/g-1/events", map[string]string{"Authorization": "Token " + testToken}, 401, "wrong"},
		{"bearer", "GET", "/api/v1/jobs/g-1/events", map[string]string{"Authorization": "Bearer " + testToken}, 200, `"count":1`},
		{"bearer lower case", "GET", "/api/v1/jobs/g-1/events", map[string]string{"Authorization": "bearer " + testToken}, 200, `"count":1`},
		{"basic password", "GET", "/api/v1/events/count", map[string]string{"Authorization": basic("any", testToken)}, 200, `"count":1`},
		{"basic wrong", "GET", "/api/v1/events/count", map[string]string{"Authorization": basic(testToken, "x")}, 401, "wrong"},
		{"metrics guarded", "GET", "/metrics", nil, 401, "missing"},
		{"stream guarded", "GET", "/api/v1/stream", nil, 401, "missing"},
		{"delete guarded", "DELETE", "/api/v1/jobs/g-1", nil, 401, "missing"},
		{"healthz open", "GET", "/healthz", nil, 200, `"status":"ok"`},
		{"healthz post guarded", "POST", "/healthz", nil, 401, "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := send(t, c, tt.method, base+tt.path, tt.hdr)
			assert.Equal(t, tt.want, a.status, a.body)
			assert.Contains(t, a.body, tt.body)
			if tt.want == 401 {
				assert.Equal(t, []string{`Bearer realm="naq-events"`, `Basic realm="naq-events", charset="UTF-8"`}, a.header.Values("WWW-Authenticate"))
				assert.NotContains(t, a.body, testToken)
			}
		})
	}
}

func basic(user, pw string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestProtect_ReadOnly(t *testing.T) {
	api := memAPI(t)
	srv := startServer(t, api, WithPolicy(Policy{ReadOnly: true}))
	for _, m := range []string{"DELETE", "POST", "PUT", "PATCH"} {
		a := send(t, http.DefaultClient, m, srv.URL()+"/api/v1/jobs/g-1", nil)
		assert.Equal(t, 403, a.status, m)
		assert.Contains(t, a.body, "read-only (--http-read-only)")
	}
	a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/jobs/g-1/events", nil)
	assert.Equal(t, 200, a.status)
	assert.Contains(t, a.body, `"count":1`, "the DELETE did not delete")
}

func TestProtect_CORS(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		srv := startServer(t, memAPI(t))
		a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count", map[string]string{"Origin": "https://evil.example"})
		assert.Equal(t, 200, a.status)
		assert.Empty(t, a.header.Get("Access-Control-Allow-Origin"))
		a = send(t, http.DefaultClient, "OPTIONS", srv.URL()+"/api/v1/events/count",
			map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"})
		assert.Empty(t, a.header.Get("Access-Control-Allow-Origin"))
		assert.NotEqual(t, 204, a.status)
	})
	t.Run("configured", func(t *testing.T) {
		srv := startServer(t, memAPI(t), WithPolicy(Policy{Token: testToken, ReadOnly: true, CORSOrigins: []string{"https://app.example"}}))
		pre := send(t, http.DefaultClient, "OPTIONS", srv.URL()+"/api/v1/events/count",
			map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
		assert.Equal(t, 204, pre.status, "a preflight carries no token and is answered")
		assert.Equal(t, "https://app.example", pre.header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "GET, HEAD", pre.header.Get("Access-Control-Allow-Methods"))
		assert.Contains(t, pre.header.Get("Access-Control-Allow-Headers"), "Authorization")
		a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count",
			map[string]string{"Origin": "https://app.example", "Authorization": "Bearer " + testToken})
		assert.Equal(t, 200, a.status)
		assert.Equal(t, "https://app.example", a.header.Get("Access-Control-Allow-Origin"))
		bad := send(t, http.DefaultClient, "OPTIONS", srv.URL()+"/api/v1/events/count",
			map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
		assert.Equal(t, 403, bad.status)
		assert.Empty(t, bad.header.Get("Access-Control-Allow-Origin"))
	})
}

// TestProtect_CrossSiteWrites: a browser page of another origin cannot
// write (a form POST needs no preflight and carries the browser's cached
// Basic credentials), whatever its credentials; the configured CORS
// origins, the same origin and non-browser clients can.
func TestProtect_CrossSiteWrites(t *testing.T) {
	srv := startServer(t, memAPI(t), WithPolicy(Policy{Token: testToken, CORSOrigins: []string{"https://app.example"}}))
	auth := basic("u", testToken)
	for name, hdr := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site"},
		"Origin of another site":    {"Origin": "https://evil.example"},
	} {
		hdr["Authorization"] = auth
		a := send(t, http.DefaultClient, "DELETE", srv.URL()+"/api/v1/jobs/g-1", hdr)
		assert.Equal(t, http.StatusForbidden, a.status, name)
		assert.Contains(t, a.body, "another origin", name)
	}
	a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/jobs/g-1/events", map[string]string{"Authorization": auth, "Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusOK, a.status, "reads stay open to other origins (CORS decides what they see)")
	assert.Contains(t, a.body, `"count":1`, "the refused DELETEs deleted nothing")
	for name, hdr := range map[string]map[string]string{
		"a CORS origin":        {"Origin": "https://app.example"},
		"the same origin":      {"Sec-Fetch-Site": "same-origin"},
		"a non-browser client": {},
	} {
		hdr["Authorization"] = auth
		a := send(t, http.DefaultClient, "DELETE", srv.URL()+"/api/v1/jobs/none-"+strings.ReplaceAll(name, " ", "-"), hdr)
		assert.Equal(t, http.StatusOK, a.status, name)
	}
}

func TestProtect_SecurityHeaders(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html><body>hi</body></html>")
	})
	mux.HandleFunc("/sniffed", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<!DOCTYPE html><html></html>")
	})
	mux.HandleFunc("/own", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("/api/", memAPI(t))
	srv := startServer(t, mux)
	for path, csp := range map[string]string{
		"/page":               HTMLContentSecurityPolicy,
		"/sniffed":            HTMLContentSecurityPolicy,
		"/own":                "default-src 'none'",
		"/api/v1/events":      OtherContentSecurityPolicy,
		"/api/v1/nonexistent": OtherContentSecurityPolicy,
	} {
		a := send(t, http.DefaultClient, "GET", srv.URL()+path, nil)
		assert.Equal(t, csp, a.header.Get("Content-Security-Policy"), path)
		assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "DENY", a.header.Get("X-Frame-Options"), path)
		assert.Equal(t, "no-referrer", a.header.Get("Referrer-Policy"), path)
	}
}

func TestProtect_BodyCap(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "too large")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := startServer(t, h, WithPolicy(Policy{MaxBody: 1 << 10}))
	post := func(n int) int {
		resp, err := http.Post(srv.URL()+"/x", "application/json", strings.NewReader(strings.Repeat("a", n)))
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, 200, post(1<<10))
	assert.Equal(t, 413, post(1<<10+1))
}

func TestServer_MaxHeaderBytes(t *testing.T) {
	srv := startServer(t, memAPI(t), WithMaxHeaderBytes(4<<10))
	a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count", map[string]string{"X-Big": strings.Repeat("b", 16<<10)})
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, a.status)
	a = send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count", nil)
	assert.Equal(t, 200, a.status, "the server still answers")
}

// TestServer_StreamLimit: beyond MaxStreams a stream gets 503 with
// Retry-After; once a stream ends its slot is free again.
func TestServer_StreamLimit(t *testing.T) {
	srv := startServer(t, memAPI(t, WithHeartbeat(time.Hour)), WithPolicy(Policy{MaxStreams: 2}))
	url := srv.URL() + StreamPath
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	s1 := openStream(t, ctx1, url, "")
	s1.nextComment(t, "stream open")
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	openStream(t, ctx2, url, "").nextComment(t, "stream open")

	a := send(t, http.DefaultClient, "GET", url, nil)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "5", a.header.Get("Retry-After"))
	assert.Contains(t, a.body, "--http-max-streams")
	a = send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events/count", nil)
	assert.Equal(t, 200, a.status, "other requests are not limited")

	cancel1()
	waitFor(t, "a free stream slot", func() bool {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		return resp.StatusCode == http.StatusOK
	})
}

// TestServer_StreamOutlivesTimeouts: a stream lasts beyond the server's
// read timeout and the per-request write deadline, while an ordinary slow
// request is cut by the write deadline.
func TestServer_StreamOutlivesTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	api := memAPI(t, WithHeartbeat(20*time.Millisecond))
	srv := startServer(t, api, WithTimeouts(timeout, timeout, time.Second), WithPolicy(Policy{WriteTimeout: timeout}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStream(t, ctx, srv.URL()+StreamPath, "")
	start := time.Now()
	for time.Since(start) < 5*timeout {
		s.nextComment(t, "heartbeat")
	}
	// The stream is still open and delivers events.
	require.NoError(t, api.store.StoreBatch(context.Background(), []event.JobEvent{event.Started("g-1", "w", "async")}))
	ev := s.next(t)
	assert.Equal(t, "started", ev.Type)
}

// TestServer_BindRule: beyond loopback without a token, Start refuses and
// says why; a token or --http-insecure lets it start.
func TestServer_BindRule(t *testing.T) {
	api := memAPI(t)
	srv := NewServer("0.0.0.0:0", api, nil, WithSecurity(config.HTTPSecurity{MaxStreams: 4}))
	err := srv.Start(context.Background())
	require.ErrorIs(t, err, config.ErrInsecureBind)
	assert.Contains(t, err.Error(), "0.0.0.0:0")
	assert.Contains(t, err.Error(), "--http-insecure")
	assert.Contains(t, err.Error(), "--http-token-file")

	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))
	for name, sec := range map[string]config.HTTPSecurity{
		"token file": {TokenFile: tokenFile},
		"token env":  {Token: testToken},
		"insecure":   {Insecure: true},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, api, WithSecurity(sec))
			_, port, err := net.SplitHostPort(srv.Addr())
			require.NoError(t, err)
			a := send(t, http.DefaultClient, "GET", "http://127.0.0.1:"+port+"/api/v1/events/count", map[string]string{"Authorization": "Bearer " + testToken})
			assert.Equal(t, 200, a.status)
		})
	}
	t.Run("unreadable token file", func(t *testing.T) {
		srv := NewServer("127.0.0.1:0", api, nil, WithSecurity(config.HTTPSecurity{TokenFile: "/nonexistent/token"}))
		err := srv.Start(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), `--http-token-file "/nonexistent/token"`)
	})
}

func TestServer_TLS(t *testing.T) {
	dir := t.TempDir()
	caPool, cert, key := testCert(t, dir)
	srv := startServer(t, memAPI(t), WithSecurity(config.HTTPSecurity{Cert: cert, Key: key, Token: testToken}))
	require.True(t, strings.HasPrefix(srv.URL(), "https://127.0.0.1:"), srv.URL())
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	a := send(t, c, "GET", srv.URL()+"/api/v1/events/count", map[string]string{"Authorization": "Bearer " + testToken})
	assert.Equal(t, 200, a.status)
	assert.Equal(t, "max-age=31536000", a.header.Get("Strict-Transport-Security"))
	plain := send(t, http.DefaultClient, "GET", "http://"+srv.Addr()+"/api/v1/events/count", nil)
	assert.Equal(t, 400, plain.status, "plain HTTP to the TLS port is refused")

	bad := NewServer("127.0.0.1:0", memAPI(t), nil, WithSecurity(config.HTTPSecurity{Cert: key, Key: cert}))
	err := bad.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--http-cert")
}

// testCert makes a self-signed certificate for 127.0.0.1 in dir.
func testCert(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "naq-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return pool, cert, key
}

// TestProtect_MalformedQuery: a query that does not parse is a 400, not
// the query without the bad pair (found by the hostile-input sweep: job=%zz
// listed every event).
func TestProtect_MalformedQuery(t *testing.T) {
	srv := startServer(t, memAPI(t))
	for _, q := range []string{"job=%zz", "limit=1&%", "type=failed;x"} {
		a := send(t, http.DefaultClient, "GET", srv.URL()+"/api/v1/events?"+q, nil)
		assert.Equal(t, 400, a.status, q)
		assert.Contains(t, a.body, "malformed query string", q)
	}
}
