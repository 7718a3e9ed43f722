package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coffer-vault/coffer/internal/audit"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Main runs `coffer serve ARGS` until SIGINT or SIGTERM, then shuts down
// gracefully. It returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fl := flag.NewFlagSet("coffer serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dataDir := getenv("COFFER_DATA_DIR")
	if dataDir == "" {
		dataDir = "coffer-data"
	}
	var cfg Config
	var hosts, witnesses, witnessFor stringList
	var levelName string
	fl.StringVar(&cfg.DataDir, "data-dir", dataDir, "data directory (env COFFER_DATA_DIR)")
	fl.StringVar(&cfg.Addr, "addr", ":9000", "listen address")
	fl.StringVar(&cfg.AuditDir, "audit-dir", "", "audit ledger directory, best on its own volume (default DATA_DIR/audit)")
	fl.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (default: issued by the server's own CA)")
	fl.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file")
	fl.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP (only behind a TLS-terminating proxy)")
	fl.Var(&hosts, "hostname", "extra DNS name or IP for the certificate and virtual-host requests (repeatable)")
	fl.StringVar(&cfg.Region, "region", "us-east-1", "S3 region")
	fl.StringVar(&levelName, "log-level", "info", "log level: debug, info, warn, error")
	fl.Var(&witnesses, "witness", "a witness to cosign the ledger's checkpoints: URL,KEY (URL is the submission prefix, e.g. https://peer:9000/witness; KEY from `coffer audit witness-pubkey` there; repeatable)")
	fl.IntVar(&cfg.WitnessQuorum, "witness-quorum", 0, "witnesses that must cosign (default: all of --witness)")
	fl.StringVar(&cfg.WitnessCAFile, "witness-ca", "", "PEM file of extra CAs for reaching witnesses")
	fl.StringVar(&cfg.AuditExports.JSONLPath, "audit-export-jsonl", "", "also copy every ledger record to this JSON lines file")
	fl.StringVar(&cfg.AuditExports.Syslog, "audit-export-syslog", "", "also send every ledger record to syslog: tcp://HOST:PORT or tls://HOST:PORT (RFC 5424)")
	fl.StringVar(&cfg.AuditExports.SyslogCAFile, "audit-export-syslog-ca", "", "PEM CA for tls:// syslog")
	fl.StringVar(&cfg.AuditExports.WebhookURL, "audit-export-webhook", "", "also POST every ledger record to this https URL (HMAC-signed)")
	fl.StringVar(&cfg.AuditExports.WebhookSecretFile, "audit-export-webhook-secret-file", "", "file holding the webhook's HMAC secret (32+ bytes)")
	fl.Var(&witnessFor, "witness-for", "act as a witness for the ledger with this public key (`coffer audit pubkey` there; repeatable)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: coffer serve [flags]\n\nRuns the Coffer server with embedded defaults.\n\nflags:")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "coffer serve: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		fmt.Fprintf(stderr, "coffer serve: bad -log-level %q: want debug, info, warn or error\n", levelName)
		return 2
	}
	cfg.Hostnames = hosts
	cfg.WitnessFor = witnessFor
	for _, w := range witnesses {
		u, k, ok := strings.Cut(w, ",")
		if !ok || !strings.HasPrefix(u, "https://") || k == "" {
			fmt.Fprintf(stderr, "coffer serve: bad --witness %q: want https://HOST/witness,KEY\n", w)
			return 2
		}
		cfg.Witnesses = append(cfg.Witnesses, audit.WitnessConfig{URL: strings.TrimSuffix(u, "/"), VerifierKey: strings.TrimSpace(k)})
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "coffer serve: %v\n", err)
		return 1
	}
	printBanner(stdout, s)

	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down: waiting for in-flight requests")
		if err := s.Shutdown(context.Background()); err != nil {
			fmt.Fprintf(stderr, "coffer serve: shutdown: %v\n", err)
			return 1
		}
		cfg.Logger.Info("stopped")
		return 0
	case err := <-s.serveErr:
		s.Shutdown(context.Background())
		if err != nil {
			fmt.Fprintf(stderr, "coffer serve: %v\n", err)
			return 1
		}
		return 0
	}
}

func printBanner(w io.Writer, s *Server) {
	fmt.Fprintf(w, "Coffer is serving.\n")
	fmt.Fprintf(w, "  Endpoint:    %s\n", s.Endpoint())
	fmt.Fprintf(w, "  Data dir:    %s\n", s.cfg.DataDir)
	if s.CAFile() != "" {
		fmt.Fprintf(w, "  CA cert:     %s\n", s.CAFile())
		fmt.Fprintf(w, "  CA SHA-256:  %s\n", s.CAFingerprint())
	}
	if c := s.NewCredentials(); c != nil {
		fmt.Fprintf(w, "\n  First admin access key (shown once; also saved 0600 in %s):\n", s.CredentialsFile())
		fmt.Fprintf(w, "    Access key: %s\n", c.AccessKey)
		fmt.Fprintf(w, "    Secret key: %s\n", c.SecretKey)
	} else {
		fmt.Fprintf(w, "  Admin credentials: %s\n", s.CredentialsFile())
	}
	if k := s.NewAuditKey(); k != "" {
		fmt.Fprintf(w, "\n  Audit ledger public key (note it; also: coffer audit pubkey):\n    %s\n", k)
	}
	if t := s.SetupToken(); t != "" {
		fmt.Fprintf(w, "\n  One-time setup token for the first admin user (POST /admin/v1/setup; shown once):\n    %s\n", t)
	}
	fmt.Fprintf(w, "\n  Try:  coffer mb local/photos && coffer put README.md local/photos/ && coffer ls local/photos\n")
}
