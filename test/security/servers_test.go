package security

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/test/internal/naqbin"
)

// startNATS runs a nats-server process (natsServer, the pinned
// nats-server built by TestMain) with JetStream, configured by conf (the
// body of a nats-server configuration file, without listen and jetstream,
// which startNATS adds), and returns its client URL ("tls://" when the
// file makes clients use TLS). The file is checked first with
// server.ProcessConfigFile, so that a bad one fails with the parser's
// message rather than as a process that exits. The process is stopped at
// cleanup; what it logged is shown if it exits early or never listens.
func startNATS(t *testing.T, conf string) string {
	t.Helper()
	return startNATSProcess(t, conf).url
}

// natsProcess is a nats-server process of startNATSProcess.
type natsProcess struct {
	url  string
	path string                           // its configuration file
	full func(listen, conf string) string // the whole file
	cmd  *exec.Cmd
	log  *naqbin.Buffer
}

// startNATSProcess is startNATS, returning the process for reload.
func startNATSProcess(t *testing.T, conf string) *natsProcess {
	t.Helper()
	dir := t.TempDir()
	full := func(listen, conf string) string {
		return fmt.Sprintf("listen: %s\njetstream: {store_dir: %q}\n%s\n", listen, filepath.Join(dir, "js"), conf)
	}
	path := filepath.Join(dir, "nats.conf")
	body := full("127.0.0.1:-1", conf)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err, "config:\n%s", body)
	scheme := "nats"
	if opts.TLSConfig != nil {
		scheme = "tls"
	}

	log := &naqbin.Buffer{}
	cmd := exec.Command(natsServer, "-c", path, "--ports_file_dir", dir)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error // the exit status of a signalled server says nothing
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		_ = err
	})

	// nats-server writes its ports (with the port it picked) to
	// <dir>/nats-server_<pid>.ports once it listens.
	ports := filepath.Join(dir, fmt.Sprintf("%s_%d.ports", filepath.Base(natsServer), cmd.Process.Pid))
	deadline := time.Now().Add(20 * time.Second)
	for {
		var p struct {
			Nats []string `json:"nats"`
		}
		if b, err := os.ReadFile(ports); err == nil && json.Unmarshal(b, &p) == nil && len(p.Nats) > 0 {
			u, err := url.Parse(p.Nats[0])
			require.NoError(t, err, "ports file %s", b)
			return &natsProcess{url: scheme + "://" + u.Host, path: path, full: full, cmd: cmd, log: log}
		}
		select {
		case err := <-exited:
			t.Fatalf("nats-server exited (%v) before it listened; config:\n%s\nlog:\n%s", err, body, log.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not write %s within 20 s; log:\n%s", ports, log.String())
		}
	}
}

// reload rewrites the process's configuration with conf (the body, as for
// startNATS; listen stays what the server picked) and makes it reload the
// file (SIGHUP), as an operator does, and returns once the server has
// logged that it reloaded.
func (p *natsProcess) reload(t *testing.T, conf string) {
	t.Helper()
	body := p.full(strings.TrimPrefix(strings.TrimPrefix(p.url, "nats://"), "tls://"), conf)
	require.NoError(t, os.WriteFile(p.path, []byte(body), 0o600))
	_, err := server.ProcessConfigFile(p.path)
	require.NoError(t, err, "config:\n%s", body)
	const done = "Reloaded server configuration"
	before := strings.Count(p.log.String(), done)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Count(p.log.String(), done) > before },
		20*time.Second, 5*time.Millisecond, "nats-server reloaded its configuration; log:\n%s", p.log)
}

// natsServer is the nats-server binary TestMain builds from the module
// version this module pins.
var natsServer string

// buildNATSServer builds the nats-server command of the pinned module
// (github.com/nats-io/nats-server/v2, from the Go module cache) into dir.
func buildNATSServer(dir string) (string, error) {
	out := filepath.Join(dir, "nats-server")
	cmd := exec.Command("go", "build", "-o", out, "github.com/nats-io/nats-server/v2")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server: %w\n%s", err, b)
	}
	return out, nil
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// operator is a decentralized-auth set-up made with the jwt and nkeys
// modules: an operator, a system account and an application account with
// JetStream, whose users are issued by the test.
type operator struct {
	conf    string // the operator, resolver and preload lines of nats.conf
	account nkeys.KeyPair
	accPub  string
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := okp.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "naq-test-operator"

	account := func(name string, js bool) (nkeys.KeyPair, string, string) {
		akp, err := nkeys.CreateAccount()
		require.NoError(t, err)
		apub, err := akp.PublicKey()
		require.NoError(t, err)
		ac := jwt.NewAccountClaims(apub)
		ac.Name = name
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		require.NoError(t, err)
		return akp, apub, ajwt
	}
	_, sysPub, sysJWT := account("SYS", false)
	oc.SystemAccount = sysPub
	ojwt, err := oc.Encode(okp)
	require.NoError(t, err)
	akp, apub, ajwt := account("NAQ", true)
	conf := fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n  %s: %s\n}\n",
		ojwt, sysPub, sysPub, sysJWT, apub, ajwt)
	return &operator{conf: conf, account: akp, accPub: apub}
}

// user issues a user of the application account with perms (nil: allow
// everything) and returns its .creds file.
func (o *operator) user(t *testing.T, name string, perms *jwt.Permissions) string {
	t.Helper()
	ukp, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, err := ukp.PublicKey()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	if perms != nil {
		uc.Permissions = *perms
	}
	ujwt, err := uc.Encode(o.account)
	require.NoError(t, err)
	seed, err := ukp.Seed()
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	require.NoError(t, err)
	return writeFile(t, name+".creds", string(creds))
}

// nkeyUser makes a user nkey: the public key for the server's config and
// the seed file for the client.
func nkeyUser(t *testing.T) (pub, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err = kp.PublicKey()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	return pub, writeFile(t, "user.nk", string(seed))
}
