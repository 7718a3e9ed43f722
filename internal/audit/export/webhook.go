package export

// The webhook sink POSTs each batch over HTTPS as
//
//	{"records":[<record>,...]}
//
// with the headers
//
//	Content-Type:       application/json
//	X-Coffer-Timestamp: <unix seconds when the request was signed>
//	X-Coffer-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
//	Idempotency-Key:    <first index>-<last index>
//
// The MAC covers the timestamp, so a receiver that refuses timestamps
// outside a window (VerifySignature, five minutes by default) refuses a
// replayed request once the window has passed; within it, a replay carries
// records the receiver already has (deduplicate by index, or by the
// Idempotency-Key). A 2xx answer acknowledges the batch. 408, 429, 5xx and
// network errors are retried; any other status (a 4xx, or a redirect,
// which is never followed so the body cannot leak elsewhere) is a
// permanent error that stops the export until an operator intervenes.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook header names.
const (
	HeaderSignature = "X-Coffer-Signature"
	HeaderTimestamp = "X-Coffer-Timestamp"
)

// DefaultTolerance is how far a webhook timestamp may be from the
// receiver's clock when VerifySignature is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// maxWebhookBody bounds the body a receiver helper reads.
const maxWebhookBody = 32 << 20

var (
	// ErrBadSignature reports a webhook request whose MAC does not verify.
	ErrBadSignature = errors.New("export: webhook signature does not verify")
	// ErrStaleTimestamp reports a webhook request signed too long ago (or
	// in the future): a replay, or clocks that disagree.
	ErrStaleTimestamp = errors.New("export: webhook timestamp outside the allowed window")
)

// WebhookConfig configures a webhook sink.
type WebhookConfig struct {
	// Name of the sink (its cursor file); default "webhook".
	Name string
	// URL to POST to; it must be https.
	URL string
	// Secret is the HMAC key shared with the receiver, at least 32 bytes.
	Secret []byte
	// TLS configures the client (e.g. ClientTLS for a private CA); nil
	// uses the system roots.
	TLS *tls.Config
	// Timeout bounds one request; default 30s.
	Timeout time.Duration

	now func() time.Time // test seam
}

// Webhook is the signed HTTPS webhook sink.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	buf    bytes.Buffer
}

// NewWebhook returns a webhook sink.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("export: webhook: URL must be an https URL")
	}
	if len(cfg.Secret) < 32 {
		return nil, errors.New("export: webhook: secret must be at least 32 bytes")
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // audit records go straight to the receiver
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.MinVersion = max(tr.TLSClientConfig.MinVersion, tls.VersionTLS12)
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &Webhook{cfg: cfg, client: client}, nil
}

// Name returns the sink's name.
func (w *Webhook) Name() string { return w.cfg.Name }

// Sign returns the X-Coffer-Signature value for body signed at timestamp
// (unix seconds, as sent in X-Coffer-Timestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature is the receiver's check of a webhook request: signature
// must be the MAC of timestamp and body under secret (compared in constant
// time), and timestamp within tolerance of now (DefaultTolerance if 0).
// It returns ErrBadSignature or ErrStaleTimestamp.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	want := Sign(secret, timestamp, body)
	if !hmac.Equal([]byte(signature), []byte(want)) {
		return ErrBadSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	return nil
}

// VerifyRequest reads a webhook request's body (at most 32 MiB), checks
// its signature with VerifySignature and returns its records. It does not
// check the records themselves; see VerifyRecord.
func VerifyRequest(r *http.Request, secret []byte, now time.Time, tolerance time.Duration) ([]Record, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("export: webhook: read body: %w", err)
	}
	if len(body) > maxWebhookBody {
		return nil, errors.New("export: webhook: body too large")
	}
	if err := VerifySignature(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, now, tolerance); err != nil {
		return nil, err
	}
	var b struct {
		Records []Record `json:"records"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("export: webhook: body: %w", err)
	}
	return b.Records, nil
}

// Deliver POSTs the batch and waits for a 2xx answer.
func (w *Webhook) Deliver(ctx context.Context, batch []Record) error {
	w.buf.Reset()
	w.buf.WriteString(`{"records":[`)
	var b []byte
	for i := range batch {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		b = batch[i].appendJSON(b[:0])
		w.buf.Write(b)
	}
	w.buf.WriteString("]}")
	body := w.buf.Bytes()
	ts := strconv.FormatInt(w.cfg.now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "coffer-audit-export/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, body))
	req.Header.Set("Idempotency-Key", fmt.Sprintf("%d-%d", batch[0].Index, batch[len(batch)-1].Index))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("export: webhook: %w", redact(err))
	}
	// Drain a little so the connection can be reused; never much.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return fmt.Errorf("export: webhook: HTTP %d", c)
	default:
		return Permanent(fmt.Errorf("export: webhook: HTTP %d", c))
	}
}

// redact drops the URL (which may carry a token in its query) from an
// HTTP client error.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// Close releases idle connections.
func (w *Webhook) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
