package security

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"
)

// startNATS runs a nats-server with JetStream configured by conf (the body
// of a nats-server configuration file, without listen and jetstream, which
// startNATS adds) and returns its client URL. The file is loaded the way a
// nats-server process loads it.
func startNATS(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	full := fmt.Sprintf("listen: 127.0.0.1:-1\njetstream: {store_dir: %q}\n%s\n", filepath.Join(dir, "js"), conf)
	path := filepath.Join(dir, "nats.conf")
	require.NoError(t, os.WriteFile(path, []byte(full), 0o600))
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err, "config:\n%s", full)
	opts.NoSigs, opts.NoLog = true, true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	require.True(t, s.ReadyForConnections(10*time.Second), "nats-server did not start")
	return s.ClientURL()
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
