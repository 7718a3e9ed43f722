// Package server wires Coffer together and runs it: the data directory and
// its lock, the root key and keyring, the metadata and blob stores, the local
// CA and TLS 1.3, the bootstrap admin access key, the S3 data plane, the
// admin plane, background jobs, and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/auth"
	"github.com/coffer-vault/coffer/internal/blob/fs"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/meta/sqlite"
	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/s3api"
	"github.com/coffer-vault/coffer/internal/s3api/sigv4"
	"github.com/coffer-vault/coffer/internal/seal"
	"github.com/coffer-vault/coffer/internal/vault"
)

// Config says how to run a server. The zero value of every field but DataDir
// is a sensible default.
type Config struct {
	// DataDir holds everything the server keeps: root key, metadata,
	// ciphertext, TLS material and the bootstrap credentials.
	DataDir string
	// Addr is the listen address; empty means ":9000". Use "127.0.0.1:0" in tests.
	Addr string
	// AuditDir holds the audit ledger; empty means DataDir/audit. A volume
	// of its own keeps a full object store from stopping the ledger (and,
	// the ledger being fail-closed, every request).
	AuditDir string
	// Witnesses are asked to cosign every checkpoint of this server's
	// ledger (C2SP tlog-witness); WitnessQuorum of them (default: all)
	// must have cosigned for the ledger to count as witnessed.
	// WitnessCAFile adds CA certificates for reaching them over TLS.
	Witnesses     []audit.WitnessConfig
	WitnessQuorum int
	WitnessCAFile string
	// WitnessFor makes this server a witness for the ledgers with these
	// note verifier keys (other Coffer servers' `coffer audit pubkey`),
	// at POST /witness/add-checkpoint.
	WitnessFor []string
	// AuditExports copy the ledger to a file, syslog or a webhook.
	AuditExports AuditExports
	// TLSCertFile and TLSKeyFile give a real certificate; empty means the
	// server's own local CA issues one.
	TLSCertFile, TLSKeyFile string
	// InsecureHTTP serves plain HTTP. Only for a TLS-terminating proxy in front.
	InsecureHTTP bool
	// Hostnames are extra DNS names or IPs for the local certificate and for
	// virtual-host style requests ("<bucket>.<hostname>").
	Hostnames []string
	// Region is the S3 region requests are signed for; empty means "us-east-1".
	Region string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Shutdown waits for in-flight requests;
	// zero means 30 s.
	ShutdownTimeout time.Duration

	// Scan configures content scanning of uploads (scanapi.go).
	Scan ScanConfig

	// connState is a test hook for http.Server.ConnState.
	connState func(net.Conn, http.ConnState)
	// now is a test hook for the identity service's clock (nil: time.Now).
	now func() time.Time
}

// Credentials are the bootstrap admin's access key, as written to
// DataDir/credentials.json for the local CLI profile.
type Credentials struct {
	Endpoint  string `json:"endpoint"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	CAFile    string `json:"ca_file,omitempty"`
	Region    string `json:"region"`
}

// Server is a running Coffer server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	lock     *os.File
	store    meta.Store
	ledger   *ledger
	auditKey string // the ledger's note verifier key, when this start created it
	vault    *vault.Service
	http     *http.Server
	listener net.Listener
	endpoint string
	pki      *localPKI
	creds    *Credentials // set only on the first start
	setupTok string       // the one-time setup token, when this start made it
	cancel   context.CancelFunc
	// endStreams ends long-lived responses (audit tail) at shutdown.
	endStreams context.CancelFunc
	bg         sync.WaitGroup
	serveErr   chan error
	closed     sync.Once
}

// Start opens (or creates) the data directory and starts serving. It returns
// once the listener is bound.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: no data directory")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":9000"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: log, serveErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.closeStores()
		}
	}()

	if s.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	root, created, err := seal.LoadOrCreateRootKey(filepath.Join(dir, "root.key"))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	if created {
		log.Info("created root key", "path", filepath.Join(dir, "root.key"))
	}
	if s.store, err = sqlite.Open(ctx, filepath.Join(dir, "meta.db")); err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	var ledgerCreated bool
	if cfg.AuditDir == "" {
		cfg.AuditDir = LedgerDir(dir)
	}
	if cfg.AuditDir, err = filepath.Abs(cfg.AuditDir); err != nil {
		return nil, fmt.Errorf("audit dir: %w", err)
	}
	s.cfg.AuditDir = cfg.AuditDir
	if s.ledger, ledgerCreated, err = openLedger(ctx, cfg, root, s.store, log); err != nil {
		return nil, err
	}
	if ledgerCreated {
		s.auditKey = s.ledger.log.PublicKey()
		log.Info("created audit ledger", "dir", cfg.AuditDir, "public_key", s.auditKey)
	}
	keyring, err := seal.NewKeyring(ctx, root, s.store)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	blobs, err := fs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	scanCfg, err := cfg.Scan.vaultConfig()
	if err != nil {
		return nil, err
	}
	next := scanCfg.OnLabels
	scanCfg.OnLabels = func(ctx context.Context, bucket, key, version string, labels []meta.Label) {
		s.ledger.labels(ctx, bucket, key, version, labels)
		if next != nil {
			next(ctx, bucket, key, version, labels)
		}
	}
	s.vault = vault.New(vault.Config{Meta: s.store, Blobs: blobs, Keys: keyring, Logger: log, Scan: scanCfg})
	if n, err := s.vault.Recover(ctx); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	} else if n > 0 {
		log.Info("removed orphaned blobs left by a crash", "count", n)
	}

	idCache := newIdentityCache(s.store)
	s.ledger.cache = idCache
	keys := &accessKeys{store: s.store, keys: keyring, now: time.Now, cache: idCache}
	verifier := &sigv4.Verifier{Creds: keys, Region: cfg.Region}

	// Listener first, so the endpoint (with its real port) goes into the
	// bootstrap credentials.
	if s.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	scheme := "https"
	if cfg.InsecureHTTP {
		scheme = "http"
	}
	s.endpoint = scheme + "://" + endpointHost(s.listener.Addr())

	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, cfg.Hostnames...)
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if !cfg.InsecureHTTP {
		cert, err := s.certificate(hosts)
		if err != nil {
			return nil, err
		}
		s.listener = tls.NewListener(s.listener, tlsConfig(cert))
	}

	if err := s.bootstrapAdmin(ctx, keys); err != nil {
		return nil, err
	}

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	rw := newRewrapper(func(ctx context.Context, batch int, progress func(int)) (int, error) {
		n, err := s.vault.RewrapDEKs(ctx, batch, progress)
		if err != nil {
			return n, err
		}
		// Access-key secrets are sealed under a KEK too; this package owns
		// their associated data.
		m, err := s.vault.Reseal(ctx, []meta.SealedKind{meta.SealedAccessKey},
			func(ref meta.SealedRef) []byte { return secretAD(ref.ID) }, batch,
			func(done int) { progress(n + done) })
		return n + m, err
	}, log)
	s.bg.Add(1)
	go func() { defer s.bg.Done(); rw.loop(bgCtx) }()
	rw.trigger() // resume a rewrap a previous run did not finish
	if err := s.startFollowers(bgCtx); err != nil {
		return nil, err
	}
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.ledger.purgeLoop(bgCtx) }()
	s.bg.Add(1)
	go func() { defer s.bg.Done(); s.vault.RunScanQueue(bgCtx) }()

	engine, err := policy.NewEngine()
	if err != nil {
		return nil, err
	}
	if err := loadPolicies(ctx, s.store, engine, log); err != nil {
		return nil, err
	}
	ids, err := auth.New(auth.Config{
		Store: s.store, Sealer: keyring, Now: cfg.now, OnLock: s.ledger.locked,
		MFARequired: func(roles []string) bool {
			for _, name := range roles {
				if r, err := engine.Role(name); err == nil && r.MFAAtLogin {
					return true
				}
			}
			return false
		},
	})
	if err != nil {
		return nil, err
	}
	setup, tok, err := newSetupToken(ctx, dir, s.store)
	if err != nil {
		return nil, fmt.Errorf("setup token: %w", err)
	}
	s.setupTok = tok

	authz := &keyAuthz{store: s.store, engine: engine, now: time.Now, labels: s.vault.Labels, log: log, cache: idCache}
	mux := http.NewServeMux()
	idAPI := &identityAPI{auth: ids, policy: engine, store: s.store, setup: setup, keys: keys, policies: s.store, ledger: s.ledger, log: log}
	idAPI.routes(mux)
	(&scanAPI{id: idAPI, vault: s.vault, log: log}).routes(mux)
	admin := &adminAPI{
		verifier: verifier, authz: authz, vault: s.vault, rotate: keyring.Rotate, rewrap: rw, log: log,
		ledger: s.ledger,
		healthy: func() error {
			if err := s.ledger.healthy(); err != nil {
				return err
			}
			_, err := s.store.ListKEKs(context.Background())
			return err
		},
	}
	admin.routes(mux)
	var streams context.Context
	streams, s.endStreams = context.WithCancel(context.WithoutCancel(ctx))
	(&auditAPI{ledger: s.ledger, identity: idAPI, admin: admin, streams: streams}).routes(mux)
	// Every admin request goes through the ledger; /health does not (it
	// must answer when the ledger cannot), nor does the S3 plane, which
	// records its own events.
	top := http.NewServeMux()
	top.Handle("/admin/", s.ledger.adminMiddleware(mux))
	top.Handle("GET /health", mux)
	// The ledger's public tlog-tiles files, for any verifier.
	top.Handle("GET /ledger/", http.StripPrefix("/ledger", audit.LedgerHandler(cfg.AuditDir)))
	if len(cfg.WitnessFor) > 0 {
		w, err := s.witness()
		if err != nil {
			return nil, err
		}
		top.Handle("POST "+audit.WitnessAddCheckpointPath, w)
	}
	top.Handle("/", s3api.New(s3api.Config{
		Objects:     s.vault,
		Verifier:    verifier,
		Region:      cfg.Region,
		BaseDomains: hosts,
		Logger:      log,
		Authorize:   authz.s3,
		Audit:       s.ledger,
	}))
	if err := s.ledger.system(ctx, "system:Start", "server", ""); err != nil {
		return nil, fmt.Errorf("audit ledger: record start: %w", err)
	}
	s.http = &http.Server{
		Handler:           withKeyMemo(top),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         cfg.connState,
	}
	s.http.RegisterOnShutdown(s.endStreams)
	go func() {
		err := s.http.Serve(s.listener)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	log.Info("serving", "endpoint", s.endpoint, "data_dir", dir)
	return s, nil
}

// certificate returns the configured certificate or one from the local CA.
func (s *Server) certificate(hosts []string) (tls.Certificate, error) {
	if s.cfg.TLSCertFile != "" || s.cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("load TLS certificate: %w", err)
		}
		return cert, nil
	}
	pki, err := ensureLocalPKI(filepath.Join(s.cfg.DataDir, "tls"), hosts, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	s.pki = pki
	return pki.Cert, nil
}

// bootstrapAdmin mints the first admin access key when the store has none,
// and keeps DataDir/credentials.json pointing at the current endpoint.
func (s *Server) bootstrapAdmin(ctx context.Context, keys *accessKeys) error {
	path := filepath.Join(s.cfg.DataDir, "credentials.json")
	existing, err := s.store.ListAccessKeys(ctx)
	if err != nil {
		return fmt.Errorf("list access keys: %w", err)
	}
	var c Credentials
	if len(existing) == 0 {
		id, secret, err := keys.create(ctx, adminOwner, time.Time{}, time.Time{})
		if err != nil {
			return fmt.Errorf("bootstrap admin key: %w", err)
		}
		c = Credentials{AccessKey: id, SecretKey: secret}
		s.creds = &c
	} else {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // the operator removed it; nothing to refresh
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
	}
	c.Endpoint, c.Region = s.endpoint, s.cfg.Region
	c.CAFile = ""
	if s.pki != nil {
		c.CAFile = s.pki.CAFile
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// Endpoint is the URL clients reach the server at.
func (s *Server) Endpoint() string { return s.endpoint }

// CAFile is the local CA's certificate path ("" with a configured certificate or plain HTTP).
func (s *Server) CAFile() string {
	if s.pki == nil {
		return ""
	}
	return s.pki.CAFile
}

// CAFingerprint is the SHA-256 fingerprint of the local CA certificate.
func (s *Server) CAFingerprint() string {
	if s.pki == nil {
		return ""
	}
	return s.pki.Fingerprint
}

// NewCredentials returns the bootstrap admin credentials when this start
// created them, else nil: the secret is shown once.
func (s *Server) NewCredentials() *Credentials { return s.creds }

// SetupToken is the one-time token for creating the first admin user, when
// this start made it (else ""): shown once.
func (s *Server) SetupToken() string { return s.setupTok }

// NewAuditKey is the audit ledger's public (note verifier) key when this
// start created the ledger, else "".
func (s *Server) NewAuditKey() string { return s.auditKey }

// AuditPublicKey is the audit ledger's public (note verifier) key.
func (s *Server) AuditPublicKey() string { return s.ledger.log.PublicKey() }

// CredentialsFile is where the local CLI profile is kept.
func (s *Server) CredentialsFile() string { return filepath.Join(s.cfg.DataDir, "credentials.json") }

// Wait blocks until the server stops serving and returns why.
func (s *Server) Wait() error { return <-s.serveErr }

// Shutdown stops accepting requests, lets in-flight ones finish (bounded by
// Config.ShutdownTimeout and ctx), stops background jobs and closes the stores.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.cancel()
	s.bg.Wait()
	if rerr := s.ledger.system(ctx, "system:Stop", "server", ""); rerr != nil {
		s.log.Error("audit: record stop", "err", rerr)
	}
	if cerr := s.closeStores(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) closeStores() error {
	var err error
	s.closed.Do(func() {
		if s.ledger != nil {
			if lerr := s.ledger.log.Close(); lerr != nil {
				s.log.Error("close audit ledger", "err", lerr)
			}
		}
		if s.store != nil {
			err = s.store.Close()
		}
		if s.lock != nil {
			s.lock.Close() // releases the flock
		}
	})
	return err
}

// lockDir takes an exclusive lock on the data directory so that two servers
// never share it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another coffer server: %w", dir, err)
	}
	return f, nil
}

// endpointHost turns a listen address into host:port for URLs.
func endpointHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return net.JoinHostPort(ta.IP.String(), fmt.Sprint(ta.Port))
}
