package server

// Background work on the ledger: the search indexer (always on) and the
// configured exporters (JSON lines, syslog, webhook), each a cursor-driven
// Follower with at-least-once delivery.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/coffer-vault/coffer/internal/audit/export"
)

// AuditExports says where to copy the ledger.
type AuditExports struct {
	// JSONLPath appends records to a JSON lines file.
	JSONLPath string
	// Syslog is tcp://HOST:PORT or tls://HOST:PORT (RFC 5424, octet
	// counting); SyslogCAFile adds a CA for tls://.
	Syslog       string
	SyslogCAFile string
	// WebhookURL receives signed JSON batches (X-Coffer-Signature);
	// WebhookSecretFile holds the HMAC secret (at least 32 bytes).
	WebhookURL        string
	WebhookSecretFile string
}

// exportStateDir keeps the followers' cursors.
func exportStateDir(dataDir string) string { return filepath.Join(dataDir, "audit-export") }

// sinks builds the configured exporters' sinks.
func (c AuditExports) sinks() ([]export.Sink, error) {
	var out []export.Sink
	if c.JSONLPath != "" {
		s, err := export.NewJSONL(export.JSONLConfig{Name: "jsonl", Path: c.JSONLPath})
		if err != nil {
			return nil, fmt.Errorf("audit export to %s: %w", c.JSONLPath, err)
		}
		out = append(out, s)
	}
	if c.Syslog != "" {
		u, err := url.Parse(c.Syslog)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "tls") || u.Host == "" {
			return nil, fmt.Errorf("audit export: syslog address %q: want tcp://HOST:PORT or tls://HOST:PORT", c.Syslog)
		}
		cfg := export.SyslogConfig{Name: "syslog", Addr: u.Host}
		if u.Scheme == "tls" {
			var ca []byte
			if c.SyslogCAFile != "" {
				if ca, err = os.ReadFile(c.SyslogCAFile); err != nil {
					return nil, fmt.Errorf("audit export: syslog CA: %w", err)
				}
			}
			if cfg.TLS, err = export.ClientTLS(ca, u.Hostname()); err != nil {
				return nil, fmt.Errorf("audit export: syslog TLS: %w", err)
			}
		}
		s, err := export.NewSyslog(cfg)
		if err != nil {
			return nil, fmt.Errorf("audit export to syslog: %w", err)
		}
		out = append(out, s)
	}
	if c.WebhookURL != "" {
		secret, err := os.ReadFile(c.WebhookSecretFile)
		if err != nil {
			return nil, fmt.Errorf("audit export: webhook secret file: %w", err)
		}
		s, err := export.NewWebhook(export.WebhookConfig{Name: "webhook", URL: c.WebhookURL, Secret: []byte(strings.TrimSpace(string(secret)))})
		if err != nil {
			return nil, fmt.Errorf("audit export to webhook: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

// startFollowers runs the search indexer and the exporters until ctx ends
// or the ledger closes.
func (s *Server) startFollowers(ctx context.Context) error {
	sinks, err := s.cfg.AuditExports.sinks()
	if err != nil {
		return err
	}
	sinks = append([]export.Sink{export.NewIndexer(s.store)}, sinks...)
	for _, sink := range sinks {
		f, err := export.NewFollower(s.cfg.AuditDir, s.ledger.sealer, exportStateDir(s.cfg.DataDir), sink,
			export.Options{Source: s.ledger.log, Logger: s.log})
		if err != nil {
			return fmt.Errorf("audit export %s: %w", sink.Name(), err)
		}
		s.ledger.followers = append(s.ledger.followers, f)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			defer sink.Close()
			if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("audit export stopped; it resumes from its cursor at the next start", "sink", sink.Name(), "err", err)
			}
		}()
	}
	return nil
}
