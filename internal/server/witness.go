package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
)

// WitnessDir is where a server acting as a witness keeps its key and the
// state of the logs it witnesses.
func WitnessDir(dataDir string) string { return filepath.Join(dataDir, "witness") }

// witness returns the C2SP tlog-witness handler for Config.WitnessFor.
func (s *Server) witness() (*audit.Witness, error) {
	var logs []audit.WitnessedLog
	for _, k := range s.cfg.WitnessFor {
		logs = append(logs, audit.WitnessedLog{VerifierKey: k})
	}
	// The key's name is fixed: it must not change once the key exists.
	w, err := audit.NewWitness(WitnessDir(s.cfg.DataDir), audit.WitnessOptions{Name: "coffer-witness", Logs: logs, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	s.log.Info("acting as a witness", "logs", len(logs), "witness_key", w.PublicKey())
	return w, nil
}

// witnessClient is the HTTP client the ledger submits checkpoints with:
// TLS 1.3, the system roots plus caFile.
func witnessClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("witness CA: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("witness CA %s holds no certificate", caFile)
		}
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13},
			MaxIdleConnsPerHost: 2,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
