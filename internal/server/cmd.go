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
	var hosts stringList
	var levelName string
	fl.StringVar(&cfg.DataDir, "data-dir", dataDir, "data directory (env COFFER_DATA_DIR)")
	fl.StringVar(&cfg.Addr, "addr", ":9000", "listen address")
	fl.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (default: issued by the server's own CA)")
	fl.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file")
	fl.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP (only behind a TLS-terminating proxy)")
	fl.Var(&hosts, "hostname", "extra DNS name or IP for the certificate and virtual-host requests (repeatable)")
	fl.StringVar(&cfg.Region, "region", "us-east-1", "S3 region")
	fl.StringVar(&levelName, "log-level", "info", "log level: debug, info, warn, error")
	fl.BoolVar(&cfg.Scan.Off, "no-scan", false, "do not scan uploads for secrets and personal data (no labels; scan.reject refuses nothing)")
	fl.Int64Var(&cfg.Scan.InlineMax, "scan-inline-max", 64<<20, "largest upload (bytes) scanned as it streams in; larger ones are scanned in the background")
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
	if t := s.SetupToken(); t != "" {
		fmt.Fprintf(w, "\n  One-time setup token for the first admin user (POST /admin/v1/setup; shown once):\n    %s\n", t)
	}
	fmt.Fprintf(w, "\n  Try:  coffer mb local/photos && coffer put README.md local/photos/ && coffer ls local/photos\n")
}
