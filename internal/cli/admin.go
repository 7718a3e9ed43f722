package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// adminPrefix is the root of the server's JSON admin plane.
const adminPrefix = "/admin/v1"

// maxAdminResponse bounds what the CLI reads from an admin reply, and
// from one record of a streamed reply (audit tail).
const maxAdminResponse = 4 << 20

// adminError is an error reply of the admin plane:
// {"error":{"code":"...","message":"..."}}.
type adminError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *adminError) Error() string {
	return fmt.Sprintf("admin API: %s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// friendly is the message shown to the user.
func (e *adminError) friendly() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	switch {
	case e.Status == http.StatusNotFound && e.Code == "":
		return "the server has no such admin API (is it a Coffer server of this version?)"
	case e.Code == "AccessDenied" || e.Status == http.StatusForbidden:
		return "access denied: " + msg
	}
	return msg
}

// adminCall sends a SigV4-signed request to the admin plane and decodes a
// JSON reply into out (if non-nil).
func (r *remote) adminCall(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := r.adminRequest(ctx, method, path, body, "", true)
	if err != nil {
		return err
	}
	return r.doAdmin(req, out)
}

// adminRequest builds a request to the admin plane (path is below
// /admin/v1 and may carry a query). It carries the session token when
// token is set, else it is SigV4-signed with the alias's access key when
// sign is set, else it is unauthenticated (login, setup).
func (r *remote) adminRequest(ctx context.Context, method, path string, body []byte, token string, sign bool) (*http.Request, error) {
	if (token != "" || !sign) && !privateChannel(r.endpoint) {
		return nil, fmt.Errorf("refusing to send a password or session token to %s over plain HTTP: use an https:// URL (plain HTTP is for loopback only)", r.endpoint.Host)
	}
	u := *r.endpoint
	p, query, _ := strings.Cut(path, "?")
	u.Path, u.RawQuery = adminPrefix+p, query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case token != "":
		req.Header.Set("Authorization", "Bearer "+token)
	case sign:
		sum := sha256.Sum256(body)
		req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
		req = signer.SignV4(*req, r.alias.AccessKey, r.alias.SecretKey, "", r.alias.Region)
	}
	return req, nil
}

// privateChannel reports whether secrets (passwords, session tokens) may
// travel to u: over TLS, or over plain HTTP to this machine only.
func privateChannel(u *url.URL) bool {
	if u.Scheme == "https" {
		return true
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// doAdmin sends an admin-plane request and decodes the JSON reply into out
// (if non-nil); an error reply becomes an *adminError.
func (r *remote) doAdmin(req *http.Request, out any) error {
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return r.decodeAdmin(resp, out)
}

// decodeAdmin reads an admin reply (at most maxAdminResponse bytes): an
// error reply becomes an *adminError, else the JSON goes into out.
func (r *remote) decodeAdmin(resp *http.Response, out any) error {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse+1))
	if err != nil {
		return fmt.Errorf("read admin reply: %w", err)
	}
	if len(data) > maxAdminResponse {
		return fmt.Errorf("the server's admin reply is larger than %d MiB", maxAdminResponse>>20)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error adminError `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the server's admin reply is not the expected JSON: %w", err)
	}
	return nil
}

// keyStatus is GET /admin/v1/keys.
type keyStatus struct {
	Current  int            `json:"current"`
	Versions []keyVersion   `json:"versions"`
	Rewrap   rewrapProgress `json:"rewrap"`
}

type keyVersion struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Current bool      `json:"current"`
	DEKs    int64     `json:"deks"`
	Sealed  int64     `json:"sealed"`
}

type rewrapProgress struct {
	Running   bool   `json:"running"`
	Done      int64  `json:"done"`
	Remaining int64  `json:"remaining"`
	Error     string `json:"error"`
}

const keyUsage = `coffer key SUBCOMMAND ALIAS

Manage the server's key-encryption keys (KEKs).

Subcommands:
  rotate ALIAS             add a new KEK version; data keys are rewrapped in the background
  status ALIAS [--watch]   show KEK versions, data keys per version, and rewrap progress
  create ALIAS [--mfa] [--policy FILE]
                           mint an S3 access key for the logged-in user (see coffer key create --help)
  ls ALIAS [--user NAME]   list access keys (yours, or NAME's) with their last use
  rm ALIAS ACCESS_KEY      revoke an access key`

func (a *app) cmdKey(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("key", keyUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "rotate":
		return a.cmdKeyRotate(ctx, args[1:])
	case "status":
		return a.cmdKeyStatus(ctx, args[1:])
	case "create":
		return a.cmdKeyCreate(ctx, args[1:])
	case "ls":
		return a.cmdKeyLs(ctx, args[1:])
	case "rm":
		return a.cmdKeyRm(ctx, args[1:])
	}
	return usagef("key", "key: unknown subcommand %q", sub)
}

// aliasOnly parses a positional argument that must be a bare alias.
func aliasOnly(cmd, s string) (string, error) {
	name := strings.TrimSuffix(s, "/")
	if err := validAliasName(name); err != nil {
		return "", usagef(cmd, "%v", err)
	}
	return name, nil
}

// connectAlias connects to the alias arg names: a bare alias (a trailing
// "/" is allowed), else a usage error of cmd.
func (a *app) connectAlias(cmd, arg string, cf *commonFlags) (*remote, error) {
	name, err := aliasOnly(cmd, arg)
	if err != nil {
		return nil, err
	}
	return a.connect(name, cf)
}

func (a *app) cmdKeyRotate(ctx context.Context, args []string) error {
	fs := newFlags("key rotate", `coffer key rotate ALIAS

Add a new key-encryption key version and make it current. The server then
rewraps every data key under older versions in the background; follow it
with `+"`coffer key status ALIAS --watch`"+`. Object data is not re-encrypted.`)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	r, err := a.connectAlias(fs.cmd, pos[0], &fs.common)
	if err != nil {
		return err
	}
	name := r.name
	var out struct {
		Version int `json:"version"`
	}
	if err := r.adminCall(ctx, http.MethodPost, "/keys/rotate", nil, &out); err != nil {
		return fmt.Errorf("rotate keys on %s: %w", name, err)
	}
	if fs.common.json {
		return a.printJSON(map[string]any{"status": "success", "alias": name, "version": out.Version})
	}
	fmt.Fprintf(a.stdout, "Key rotated: version %d is now current on %s.\n", out.Version, name)
	a.infof(&fs.common, "Data keys are being rewrapped in the background; watch with: coffer key status %s --watch\n", name)
	return nil
}

func (a *app) cmdKeyStatus(ctx context.Context, args []string) error {
	fs := newFlags("key status", `coffer key status ALIAS [--watch]

Show the server's key-encryption key versions, how many data keys each
still wraps, and the progress of the background rewrap. --watch refreshes
until the rewrap has finished.`)
	var watch bool
	interval := a.pollInterval
	fs.BoolVar(&watch, "watch", false, "refresh until the rewrap finishes")
	fs.DurationVar(&interval, "interval", interval, "refresh interval for --watch")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if interval <= 0 {
		return usagef(fs.cmd, "key status: --interval must be positive")
	}
	r, err := a.connectAlias(fs.cmd, pos[0], &fs.common)
	if err != nil {
		return err
	}
	name := r.name
	for first := true; ; first = false {
		var st keyStatus
		if err := r.adminCall(ctx, http.MethodGet, "/keys", nil, &st); err != nil {
			return fmt.Errorf("key status of %s: %w", name, err)
		}
		if fs.common.json {
			if err := a.printJSON(st); err != nil {
				return err
			}
		} else {
			if !first {
				fmt.Fprintln(a.stdout)
			}
			a.printKeyStatus(st)
		}
		if st.Rewrap.Error != "" && watch {
			return fmt.Errorf("the server's rewrap failed: %s", st.Rewrap.Error)
		}
		if !watch || !st.Rewrap.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func (a *app) printKeyStatus(st keyStatus) {
	fmt.Fprintf(a.stdout, "Current key version: %d\n\n", st.Current)
	tw := a.newTable("VERSION\tCREATED\tCURRENT\tDATA KEYS\tSEALED VALUES")
	for _, v := range st.Versions {
		cur := ""
		if v.Current {
			cur = "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", v.Version, fmtTime(v.Created), cur, v.DEKs, v.Sealed)
	}
	tw.Flush()
	rw := st.Rewrap
	switch {
	case rw.Error != "":
		fmt.Fprintf(a.stdout, "\nRewrap: failed after %d data keys: %s\n", rw.Done, rw.Error)
	case rw.Running:
		pct := 0.0
		if total := rw.Done + rw.Remaining; total > 0 {
			pct = 100 * float64(rw.Done) / float64(total)
		}
		fmt.Fprintf(a.stdout, "\nRewrap: running, %d done, %d remaining (%.0f%%)\n", rw.Done, rw.Remaining, pct)
	case rw.Remaining > 0:
		fmt.Fprintf(a.stdout, "\nRewrap: idle, %d data keys still under older versions\n", rw.Remaining)
	default:
		fmt.Fprintf(a.stdout, "\nRewrap: idle, every data key is under the current version\n")
	}
}
