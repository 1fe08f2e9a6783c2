package security

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/storage"
	"github.com/naq-go/events/domain/event"
)

// authCase is one secure nats-server set-up and how a client gets in.
type authCase struct {
	name    string
	conf    string   // nats.conf lines
	good    []string // client environment that works
	missing []string // client environment without the credential
	// wantMissing are parts of the one-line error without the credential.
	wantMissing []string
	secrets     []string // must never show in any output
	// cfg sets the library's configuration to the working credentials.
	cfg func(*config.NATS)
}

func authCases(t *testing.T) []authCase {
	ca := newPKI(t, "naq-test")
	srvCert, srvKey := ca.issue(t, "nats-server")
	cliCert, cliKey := ca.issue(t, "naq-client")
	other := newPKI(t, "other")
	pub, seedFile := nkeyUser(t)
	op := newOperator(t)
	creds := op.user(t, "naq-service", nil)
	const password, token = "pw-Secret-5e6f7a", "tok-Secret-1a2b3c"
	tlsConf := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n}\n", srvCert, srvKey)
	mtlsConf := fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n}\n", srvCert, srvKey, ca.CA)
	return []authCase{
		{
			name: "tls", conf: tlsConf,
			good: []string{"NATS_CA=" + ca.CA}, missing: []string{"NATS_CA=" + other.CA},
			wantMissing: []string{"TLS", "--tlsca"},
			cfg:         func(c *config.NATS) { c.CA = ca.CA },
		},
		{
			name: "mutual tls", conf: mtlsConf,
			good:        []string{"NATS_CA=" + ca.CA, "NATS_CERT=" + cliCert, "NATS_KEY=" + cliKey},
			missing:     []string{"NATS_CA=" + ca.CA},
			wantMissing: []string{"client certificate", "--tlscert"},
			cfg:         func(c *config.NATS) { c.CA, c.Cert, c.Key = ca.CA, cliCert, cliKey },
		},
		{
			name: "user and password", conf: fmt.Sprintf("authorization {\n  users = [{user: naq, password: %q}]\n}\n", password),
			good: []string{"NATS_USER=naq", "NATS_PASSWORD=" + password}, missing: []string{"NATS_USER=naq"},
			wantMissing: []string{"refused", "--password"},
			secrets:     []string{password},
			cfg:         func(c *config.NATS) { c.User, c.Password = "naq", password },
		},
		{
			name: "token", conf: fmt.Sprintf("authorization {\n  token: %q\n}\n", token),
			good: []string{"NATS_TOKEN=" + token}, missing: nil,
			wantMissing: []string{"requires credentials", "--token"},
			secrets:     []string{token},
			cfg:         func(c *config.NATS) { c.Token = token },
		},
		{
			name: "nkey", conf: fmt.Sprintf("authorization {\n  users = [{nkey: %s}]\n}\n", pub),
			good: []string{"NATS_NKEY=" + seedFile}, missing: nil,
			wantMissing: []string{"requires credentials", "--nkey"},
			secrets:     []string{readFile(t, seedFile)},
			cfg:         func(c *config.NATS) { c.NKey = seedFile },
		},
		{
			name: "jwt creds", conf: op.conf,
			good: []string{"NATS_CREDS=" + creds}, missing: nil,
			wantMissing: []string{"requires credentials", "--creds"},
			secrets:     []string{credsSeed(t, creds)},
			cfg:         func(c *config.NATS) { c.Creds = creds },
		},
	}
}

// TestNATSAuth runs, for each secure set-up, the library, serve, log, tail
// and history with the right credentials, and the commands without them:
// refused with one line naming what is missing, exit 1, no hang. No secret
// shows in any output.
func TestNATSAuth(t *testing.T) {
	for _, tc := range authCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := startNATS(t, tc.conf)
			out := &outputs{}

			t.Run("library", func(t *testing.T) {
				cfg := config.Default()
				cfg.NATS.URL = url
				tc.cfg(&cfg.NATS)
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				nc, err := natsconn.Connect(ctx, cfg.NATS, "security test")
				require.NoError(t, err)
				defer nc.Close()
				store, err := storage.Open(ctx, cfg, nc)
				require.NoError(t, err)
				defer func() { _ = store.Close() }()
				require.NoError(t, storeOne(ctx, store, event.Enqueued("lib-1", "q", 1)))
				evs, err := store.Job(ctx, "lib-1", event.Page{Limit: 10})
				require.NoError(t, err)
				require.Len(t, evs, 1)
			})

			env := baseEnv(t, append([]string{"NATS_URL=" + url}, tc.good...)...)
			t.Run("commands", func(t *testing.T) {
				srv := startServe(t, out, env, "http")
				code, body, _ := get(t, httpClient, "GET", srv.base+"/healthz", "")
				require.Equal(t, 200, code, body)
				out.add("healthz", body)
				code, body, _ = get(t, httpClient, "GET", srv.base+"/metrics", "")
				require.Equal(t, 200, code)
				out.add("metrics", body)

				r := run(t, out, env, "", "log", "--job", "cli-1", "--type", "enqueued", "--queue", "q")
				require.Equal(t, 0, r.code, r.stderr)
				r = run(t, out, env, jsonLine(t, event.Started("cli-1", "w", "async"))+"\n", "log", "--stdin")
				require.Equal(t, 0, r.code, r.stderr)
				r = run(t, out, env, "", "history", "cli-1")
				require.Equal(t, 0, r.code, r.stderr)
				assert.Contains(t, r.stdout, "2 events")
				r = run(t, out, env, "", "tail", "--history", "--job", "cli-1", "--count", "2", "--json")
				require.Equal(t, 0, r.code, r.stderr)
				assert.Equal(t, 2, strings.Count(r.stdout, "\n"), r.stdout)
			})

			t.Run("refused without the credential", func(t *testing.T) {
				bad := baseEnv(t, append([]string{"NATS_URL=" + url, "NAQ_CONNECT_TIMEOUT=3s"}, tc.missing...)...)
				for _, args := range [][]string{
					{"history", "cli-1"},
					{"log", "--job", "x", "--type", "enqueued"},
					{"tail", "--count", "1"},
					{"serve", "--http", "", "--data-dir", t.TempDir()},
				} {
					r := run(t, out, bad, "", args...)
					requireOneLineError(t, r, tc.wantMissing...)
					assert.Less(t, r.took, 15*time.Second, "%v took %s", args, r.took)
				}
				help := run(t, out, env, "", "serve", "-h")
				require.Equal(t, 0, help.code)
			})
			out.requireNoSecret(t, tc.secrets...)
		})
	}
}
