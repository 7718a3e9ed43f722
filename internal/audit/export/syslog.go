package export

// The syslog sink sends each record as one RFC 5424 message over TCP or
// TLS (RFC 5425), framed by octet counting (RFC 6587 section 3.4.1:
// "MSG-LEN SP SYSLOG-MSG"). Messages are built with
// github.com/leodido/go-syslog's RFC 5424 builder:
//
//	<PRI>1 TIMESTAMP HOSTNAME coffer - ACTION [coffer@32473 index="12" leaf_hash="..."] {record JSON}
//
// PRI is facility (default 13, "log audit") * 8 + severity: informational
// for allowed, notice for denied, error for error outcomes. TIMESTAMP is
// the event's time (microseconds, the most RFC 5424 allows), MSGID its
// action, and the structured data element carries the ledger index and
// leaf hash (and erased="true" or truncated="true") so that a collector
// can index them without parsing the message. MSG is the record's JSON
// (MSG-ANY, no BOM). A record larger than MaxMessage is sent without its
// event and salt and marked truncated; the full record stays in the ledger.
//
// Acknowledgement: syslog over TCP has none. Deliver returns once the
// whole batch is written to the connection; before each batch it checks
// that the collector has not closed the connection (a restarted collector
// is noticed and the batch goes to a new connection), but a collector that
// crashes with records in its receive buffer loses them. Use the webhook
// or the JSON lines sink where that matters.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/coffer-vault/coffer/internal/audit"
)

// SyslogConfig configures a syslog sink.
type SyslogConfig struct {
	// Name of the sink (its cursor file); default "syslog".
	Name string
	// Addr is the collector's host:port.
	Addr string
	// TLS, if set, makes the sink speak TLS (RFC 5425) with this
	// configuration; see ClientTLS. Nil means plain TCP.
	TLS *tls.Config
	// Hostname in the HOSTNAME field; default os.Hostname().
	Hostname string
	// AppName in the APP-NAME field; default "coffer".
	AppName string
	// Facility code, 1 to 23; default (0) is 13, "log audit".
	Facility int
	// SDID is the structured data element's id; default "coffer@32473"
	// (32473 is the documentation enterprise number of RFC 5612; use your
	// organisation's if the collector cares).
	SDID string
	// MaxMessage bounds one message in bytes; default 64 KiB.
	MaxMessage int
	// Timeout bounds a dial (with the TLS handshake) and a batch write;
	// default 10s.
	Timeout time.Duration
}

// ClientTLS returns a TLS client configuration that trusts the CA
// certificates in caPEM (PEM, one or more; nil for the system roots) and
// checks the collector's certificate against serverName (default: the host
// of the address dialled).
func ClientTLS(caPEM []byte, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("export: no CA certificate in PEM")
		}
		c.RootCAs = pool
	}
	return c, nil
}

// Syslog is the RFC 5424 syslog sink.
type Syslog struct {
	cfg  SyslogConfig
	conn net.Conn
	buf  []byte
}

// NewSyslog returns a syslog sink; it connects on first delivery.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	if cfg.Name == "" {
		cfg.Name = "syslog"
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("export: syslog: address: %w", err)
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	cfg.Hostname = printASCII(cfg.Hostname, 255)
	if cfg.AppName == "" {
		cfg.AppName = "coffer"
	}
	cfg.AppName = printASCII(cfg.AppName, 48)
	if cfg.Facility == 0 {
		cfg.Facility = 13
	}
	if cfg.Facility < 0 || cfg.Facility > 23 {
		return nil, fmt.Errorf("export: syslog: facility %d out of range", cfg.Facility)
	}
	if cfg.SDID == "" {
		cfg.SDID = "coffer@32473"
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 64 << 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
		if cfg.TLS.MinVersion < tls.VersionTLS12 {
			cfg.TLS.MinVersion = tls.VersionTLS12
		}
	}
	return &Syslog{cfg: cfg}, nil
}

// Name returns the sink's name.
func (s *Syslog) Name() string { return s.cfg.Name }

// printASCII keeps the PRINTUSASCII characters of s (RFC 5424 header
// fields), at most max of them; "-" if none are left.
func printASCII(s string, max int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Severities (RFC 5424 section 6.2.1).
const (
	sevError  = 3
	sevNotice = 5
	sevInfo   = 6
)

// FormatSyslog returns the RFC 5424 message for r (without framing).
func (s *Syslog) FormatSyslog(r *Record) ([]byte, error) {
	ev, ok, err := r.Decode()
	if err != nil {
		return nil, err
	}
	sev, msgid := sevInfo, "erased"
	m := &rfc5424.SyslogMessage{}
	m.SetVersion(1)
	m.SetHostname(s.cfg.Hostname)
	m.SetAppname(s.cfg.AppName)
	m.SetParameter(s.cfg.SDID, "index", strconv.FormatInt(r.Index, 10))
	m.SetParameter(s.cfg.SDID, "leaf_hash", r.LeafHash)
	if ok {
		msgid = printASCII(ev.Action, 32)
		switch ev.Outcome.Result {
		case audit.ResultDenied:
			sev = sevNotice
		case audit.ResultError:
			sev = sevError
		}
		m.SetTimestamp(ev.Time.UTC().Format("2006-01-02T15:04:05.999999Z07:00"))
	} else {
		m.SetParameter(s.cfg.SDID, "erased", "true")
	}
	m.SetPriority(uint8(s.cfg.Facility*8 + sev))
	m.SetMsgID(msgid)
	body := r.appendJSON(nil)
	if len(body) > s.cfg.MaxMessage-1024 { // leave room for the header
		short := Record{Index: r.Index, LeafHash: r.LeafHash, Commitment: r.Commitment, Truncated: true}
		body = short.appendJSON(nil)
		m.SetParameter(s.cfg.SDID, "truncated", "true")
	}
	m.SetMessage(string(body))
	out, err := m.String()
	if err != nil {
		return nil, fmt.Errorf("export: syslog: record %d: %w", r.Index, err)
	}
	return []byte(out), nil
}

// Deliver writes the batch, octet-counted, to the collector.
func (s *Syslog) Deliver(ctx context.Context, batch []Record) error {
	s.buf = s.buf[:0]
	for i := range batch {
		msg, err := s.FormatSyslog(&batch[i])
		if err != nil {
			return Permanent(err)
		}
		s.buf = strconv.AppendInt(s.buf, int64(len(msg)), 10)
		s.buf = append(s.buf, ' ')
		s.buf = append(s.buf, msg...)
	}
	if s.conn != nil && !alive(s.conn) {
		s.drop()
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.conn.SetWriteDeadline(deadline)
	if _, err := s.conn.Write(s.buf); err != nil {
		s.drop()
		return fmt.Errorf("export: syslog: write: %w", err)
	}
	return nil
}

func (s *Syslog) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var err error
	if s.cfg.TLS != nil {
		d := &tls.Dialer{Config: s.cfg.TLS}
		s.conn, err = d.DialContext(ctx, "tcp", s.cfg.Addr)
	} else {
		var d net.Dialer
		s.conn, err = d.DialContext(ctx, "tcp", s.cfg.Addr)
	}
	if err != nil {
		s.conn = nil
		return fmt.Errorf("export: syslog: connect %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// alive reports whether the collector has not closed the connection: a
// collector sends nothing, so anything readable (end of file, an error, a
// byte) means the connection is no good.
func alive(c net.Conn) bool {
	c.SetReadDeadline(time.Now())
	var b [1]byte
	_, err := c.Read(b[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, io.EOF)
}

func (s *Syslog) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.drop()
	return nil
}
