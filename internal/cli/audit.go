package cli

// coffer audit: verify a ledger offline (a directory) or over HTTPS (a
// /ledger/ URL), print the log's public key, fetch and check inclusion and
// consistency proofs, erase a data subject's payloads.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/seal"
	"github.com/coffer-vault/coffer/internal/server"
)

const auditUsage = `coffer audit SUBCOMMAND ...

Work with the tamper-evident audit ledger.

Subcommands:
  verify [--data-dir D] [--pubkey KEY] DIR|URL   check every entry, checkpoint and payload
  pubkey [DIR|ALIAS]                             print the ledger's public (note) key
  prove N [--dir DIR | --alias ALIAS]            inclusion proof of entry N, checked
  consistency OLD NEW [--dir DIR | --alias ALIAS]  consistency proof between tree sizes
  search ALIAS [--actor --action --resource --outcome --since --until]  query the index
  tail ALIAS [-f] [--from N]                     print (and follow) ledger records
  erase [ALIAS] --subject USER [--yes]           crypto-shred USER's audit payloads
  witness-pubkey DATA_DIR                        print this server's witness key (for peers' --witness)`

func (a *app) cmdAudit(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("audit", auditUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "verify":
		return a.cmdAuditVerify(ctx, args[1:])
	case "pubkey":
		return a.cmdAuditPubkey(ctx, args[1:])
	case "prove":
		return a.cmdAuditProve(ctx, args[1:])
	case "consistency":
		return a.cmdAuditConsistency(ctx, args[1:])
	case "erase":
		return a.cmdAuditErase(ctx, args[1:])
	case "search":
		return a.cmdAuditSearch(ctx, args[1:])
	case "tail":
		return a.cmdAuditTail(ctx, args[1:])
	case "witness-pubkey":
		return a.cmdAuditWitnessPubkey(ctx, args[1:])
	}
	return usagef("audit", "audit: unknown subcommand %q", sub)
}

// ledgerDirs resolves a verify target: a data directory (holding audit/)
// or a ledger directory; dataDir, when known, holds root.key for payloads.
func ledgerDirs(target, dataDir string) (ledgerDir, keysDir string) {
	if _, err := os.Stat(filepath.Join(target, "audit", "key.pub")); err == nil {
		return filepath.Join(target, "audit"), target
	}
	return target, dataDir
}

// payloadSealer opens payloads with the root key in dataDir, if readable.
func payloadSealer(dataDir string) (audit.Sealer, error) {
	if dataDir == "" {
		return nil, nil
	}
	keyFile := filepath.Join(dataDir, "root.key")
	if _, err := os.Stat(keyFile); err != nil {
		return nil, fmt.Errorf("no root key at %s (payloads cannot be checked without it): %w", keyFile, err)
	}
	root, _, err := seal.LoadOrCreateRootKey(keyFile)
	if err != nil {
		return nil, err
	}
	return server.LedgerSealer(dataDir, root)
}

type verifyJSON struct {
	OK              bool   `json:"ok"`
	Target          string `json:"target"`
	Size            int64  `json:"size,omitempty"`
	Root            string `json:"root,omitempty"`
	Checkpoints     int    `json:"checkpoints,omitempty"`
	LatestSize      int64  `json:"latest_size,omitempty"`
	PayloadsChecked int64  `json:"payloads_checked,omitempty"`
	Erased          int64  `json:"erased,omitempty"`
	WitnessedSize   *int64 `json:"witnessed_size,omitempty"`
	Error           string `json:"error,omitempty"`
	BadIndex        *int64 `json:"bad_index,omitempty"`
	BadFile         string `json:"bad_file,omitempty"`
}

func (a *app) cmdAuditVerify(ctx context.Context, args []string) error {
	fs := newFlags("audit verify", `coffer audit verify [--data-dir DATA_DIR] [--pubkey KEY] DIR

Verify an audit ledger offline: recompute the Merkle tree from every
entry, check every checkpoint's signature and the consistency of each with
the next, compare the published tiles, and open every payload against its
commitment (with the root key of DATA_DIR; erased subjects are counted,
not failures). DIR is a data directory or a ledger directory (--audit-dir).
--pubkey pins the log's key (as printed at first start); without it the
key stored beside the ledger is used, which proves only self-consistency.
Exit status 1 and the first bad index and file on failure.`)
	var dataDir, pubkey, caFile string
	var noPayloads bool
	var witnesses stringsFlag
	var quorum int
	fs.StringVar(&dataDir, "data-dir", "", "data directory holding root.key (to check payloads)")
	fs.StringVar(&pubkey, "pubkey", "", "the log's expected public key (required for a URL)")
	fs.BoolVar(&noPayloads, "no-payloads", false, "do not open payloads")
	fs.StringVar(&caFile, "ca", "", "PEM CA file to trust for a URL (e.g. the server's local CA)")
	fs.Var(&witnesses, "witness", "a trusted witness's cosignature key (repeatable)")
	fs.IntVar(&quorum, "witness-quorum", 0, "cosignatures a checkpoint needs from --witness keys")
	var strict bool
	fs.BoolVar(&strict, "witness-strict", false, "require the quorum of the latest checkpoint itself")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	target := pos[0]
	opts := audit.VerifyOptions{PublicKey: pubkey, Witnesses: witnesses, WitnessQuorum: quorum, RequireLatestWitnessed: strict}
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		return a.verifyRemote(ctx, target, opts, caFile, &fs.common)
	}
	ledgerDir, keysDir := ledgerDirs(target, dataDir)
	if !noPayloads {
		if opts.Sealer, err = payloadSealer(keysDir); err != nil {
			return err
		}
	}
	rep, verr := audit.Verify(ctx, ledgerDir, opts)
	out := verifyJSON{OK: verr == nil, Target: ledgerDir}
	if rep != nil {
		out.Size, out.Root, out.Checkpoints, out.LatestSize = rep.Size, rep.Root.String(), rep.Checkpoints, rep.LatestSize
		out.PayloadsChecked, out.Erased = rep.PayloadsChecked, rep.Erased
		if len(witnesses) > 0 {
			out.WitnessedSize = &rep.WitnessedSize
		}
	}
	return a.reportVerify(out, verr, &fs.common, opts.Sealer == nil)
}

func (a *app) reportVerify(out verifyJSON, verr error, cf *commonFlags, noPayloads bool) error {
	if verr != nil {
		out.Error = verr.Error()
		var ve *audit.VerifyError
		if errors.As(verr, &ve) {
			if ve.Index >= 0 {
				out.BadIndex = &ve.Index
			}
			out.BadFile = ve.Path
		}
	}
	if cf.json {
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else if verr == nil {
		fmt.Fprintf(a.stdout, "OK: %s\n  entries: %d, root %s\n  checkpoints: %d (latest covers %d)\n",
			out.Target, out.Size, out.Root, out.Checkpoints, out.LatestSize)
		if out.WitnessedSize != nil {
			fmt.Fprintf(a.stdout, "  witnessed: the first %d entries (a checkpoint with the quorum of cosignatures)\n", *out.WitnessedSize)
		}
		switch {
		case noPayloads:
			fmt.Fprintf(a.stdout, "  payloads: not checked (no root key: pass --data-dir)\n")
		default:
			fmt.Fprintf(a.stdout, "  payloads: %d checked, %d erased\n", out.PayloadsChecked, out.Erased)
		}
	}
	if verr != nil {
		return fmt.Errorf("audit ledger %s does NOT verify: %w", out.Target, verr)
	}
	return nil
}

func (a *app) cmdAuditPubkey(ctx context.Context, args []string) error {
	fs := newFlags("audit pubkey", `coffer audit pubkey [DIR|ALIAS]

Print the audit ledger's public key (a signed-note verifier key): from a
data or ledger directory, or from the server behind ALIAS (default "local").`)
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		pos = []string{"local"}
	}
	var key string
	if st, err := os.Stat(pos[0]); err == nil && st.IsDir() {
		ledgerDir, _ := ledgerDirs(pos[0], "")
		if key, err = audit.ReadPublicKey(ledgerDir); err != nil {
			return err
		}
	} else {
		var cp server.CheckpointJSON
		if err := a.auditCall(ctx, pos[0], &fs.common, http.MethodGet, "/audit/checkpoint", &cp); err != nil {
			return err
		}
		key = cp.PublicKey
	}
	if fs.common.json {
		return a.printJSON(map[string]string{"public_key": key})
	}
	fmt.Fprintln(a.stdout, key)
	return nil
}

// auditCall calls the audit admin API on alias: with the session token when
// logged in (coffer login), else signed with the alias's access key.
func (a *app) auditCall(ctx context.Context, aliasName string, cf *commonFlags, method, path string, out any) error {
	r, req, err := a.auditRequest(ctx, aliasName, cf, method, path)
	if err != nil {
		return err
	}
	return r.doAdmin(req, out)
}

func parseIndex(fs *flagSet, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, usagef(fs.cmd, "%q is not a ledger index or tree size", s)
	}
	return n, nil
}

func (a *app) cmdAuditProve(ctx context.Context, args []string) error {
	fs := newFlags("audit prove", `coffer audit prove N [--dir DIR | --alias ALIAS]

Fetch the inclusion proof of ledger entry N against the latest signed
checkpoint, from a ledger directory or the server behind ALIAS (default
"local"), check it (tlog.CheckRecord) and print it.`)
	var dir, alias string
	fs.StringVar(&dir, "dir", "", "data or ledger directory (offline)")
	fs.StringVar(&alias, "alias", "local", "server to ask")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := parseIndex(fs, pos[0])
	if err != nil {
		return err
	}
	var out server.ProofJSON
	if dir != "" {
		ledgerDir, _ := ledgerDirs(dir, "")
		p, err := audit.Prove(ctx, ledgerDir, "", n)
		if err != nil {
			return err
		}
		lh := tlog.RecordHash(p.Entry)
		out = server.ProofJSON{Index: n, Entry: b64(p.Entry), LeafHash: b64(lh[:]), Size: p.Tree.N,
			Root: b64(p.Tree.Hash[:]), Checkpoint: string(p.Checkpoint)}
		for _, h := range p.Proof {
			out.Proof = append(out.Proof, b64(h[:]))
		}
	} else if err := a.auditCall(ctx, alias, &fs.common, http.MethodGet, "/audit/proof/"+strconv.FormatInt(n, 10), &out); err != nil {
		return err
	}
	// Check what we print: a proof that does not verify is an error.
	entry, err1 := base64.StdEncoding.DecodeString(out.Entry)
	root, err2 := decodeHash(out.Root)
	proof, err3 := decodeHashes(out.Proof)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("malformed proof: %w", err)
	}
	if err := tlog.CheckRecord(proof, out.Size, root, n, tlog.RecordHash(entry)); err != nil {
		return fmt.Errorf("the inclusion proof of entry %d does NOT verify: %w", n, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "entry %d is in the tree of size %d (proof verified)\n  entry (commitment): %s\n  leaf hash: %s\n  root: %s\n  proof:\n", n, out.Size, out.Entry, out.LeafHash, out.Root)
	for _, h := range out.Proof {
		fmt.Fprintf(a.stdout, "    %s\n", h)
	}
	fmt.Fprintf(a.stdout, "  checkpoint:\n%s", indent(out.Checkpoint, "    "))
	return nil
}

func (a *app) cmdAuditConsistency(ctx context.Context, args []string) error {
	fs := newFlags("audit consistency", `coffer audit consistency OLD NEW [--dir DIR | --alias ALIAS]

Fetch the proof that the ledger tree of size OLD is a prefix of the tree
of size NEW, check it (tlog.CheckTree) and print it.`)
	var dir, alias string
	fs.StringVar(&dir, "dir", "", "data or ledger directory (offline)")
	fs.StringVar(&alias, "alias", "local", "server to ask")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	old, err := parseIndex(fs, pos[0])
	if err != nil {
		return err
	}
	nw, err := parseIndex(fs, pos[1])
	if err != nil {
		return err
	}
	var out server.ConsistencyJSON
	if dir != "" {
		ledgerDir, _ := ledgerDirs(dir, "")
		p, err := audit.Consistency(ctx, ledgerDir, "", old, nw)
		if err != nil {
			return err
		}
		out = server.ConsistencyJSON{OldSize: old, OldRoot: b64(p.Old.Hash[:]), NewSize: nw, NewRoot: b64(p.New.Hash[:])}
		for _, h := range p.Proof {
			out.Proof = append(out.Proof, b64(h[:]))
		}
	} else {
		q := url.Values{"old": {pos[0]}, "new": {pos[1]}}
		if err := a.auditCall(ctx, alias, &fs.common, http.MethodGet, "/audit/consistency?"+q.Encode(), &out); err != nil {
			return err
		}
	}
	oldRoot, err1 := decodeHash(out.OldRoot)
	newRoot, err2 := decodeHash(out.NewRoot)
	proof, err3 := decodeHashes(out.Proof)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("malformed proof: %w", err)
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), out.NewSize, newRoot, out.OldSize, oldRoot); err != nil {
		return fmt.Errorf("the consistency proof %d..%d does NOT verify: %w", old, nw, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "tree %d is a prefix of tree %d (proof verified)\n  old root: %s\n  new root: %s\n  proof:\n", old, nw, out.OldRoot, out.NewRoot)
	for _, h := range out.Proof {
		fmt.Fprintf(a.stdout, "    %s\n", h)
	}
	return nil
}

func (a *app) cmdAuditErase(ctx context.Context, args []string) error {
	fs := newFlags("audit erase", `coffer audit erase [ALIAS] --subject USER [--yes]

Crypto-shred USER's audit payloads on the server behind ALIAS: their key is
destroyed, so what was recorded about USER can no longer be read, while
every leaf, checkpoint and proof stays valid. The erasure is itself
recorded. Needs audit:Erase (security-admin, with a fresh MFA proof).
ALIAS defaults to "local"; "coffer audit erase ALIAS USER" works too.`)
	var yes bool
	var subject string
	fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fs.StringVar(&subject, "subject", "", "the user whose payloads to erase")
	pos, err := a.parse(fs, args, 0, 2)
	if err != nil {
		return err
	}
	switch {
	case subject == "" && len(pos) == 2:
		subject = pos[1]
	case subject != "" && len(pos) <= 1:
	default:
		return usagef(fs.cmd, "name the user once: --subject USER")
	}
	if len(pos) == 0 {
		pos = []string{"local"}
	}
	pos = []string{pos[0], subject}
	if !yes {
		ok, err := a.confirm(fmt.Sprintf("Erase every audit payload of %s on %s? This cannot be undone.", pos[1], pos[0]), "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not erased")
		}
	}
	var out map[string]string
	if err := a.auditCall(ctx, pos[0], &fs.common, http.MethodPost, "/audit/subjects/"+url.PathEscape(pos[1])+"/erase", &out); err != nil {
		return err
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "Erased the audit payloads of %s (subject id %s).\n", pos[1], out["subject_id"])
	return nil
}

func (a *app) cmdAuditWitnessPubkey(ctx context.Context, args []string) error {
	fs := newFlags("audit witness-pubkey", `coffer audit witness-pubkey DATA_DIR

Print the cosignature key of the witness kept in DATA_DIR (a server run
with --witness-for), creating it if it does not exist yet, for other
servers' --witness URL,KEY.`)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	dir := server.WitnessDir(pos[0])
	key, err := audit.ReadWitnessPublicKey(dir)
	if err != nil {
		w, werr := audit.NewWitness(dir, audit.WitnessOptions{Name: "coffer-witness"})
		if werr != nil {
			return fmt.Errorf("witness key in %s: %w", dir, errors.Join(err, werr))
		}
		key = w.PublicKey()
	}
	if fs.common.json {
		return a.printJSON(map[string]string{"witness_key": key})
	}
	fmt.Fprintln(a.stdout, key)
	return nil
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func decodeHashes(ss []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, len(ss))
	for _, s := range ss {
		h, err := decodeHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pre + l)
		}
	}
	return b.String()
}

// verifyRemote verifies a ledger served over HTTPS under /ledger/.
func (a *app) verifyRemote(ctx context.Context, base string, opts audit.VerifyOptions, caFile string, cf *commonFlags) error {
	if opts.PublicKey == "" {
		return usagef("audit verify", "verifying over HTTPS needs --pubkey: a key fetched from the server being checked would prove nothing")
	}
	tr, err := transportWithCA(caFile, cf.insecure)
	if err != nil {
		return err
	}
	rep, verr := audit.VerifyRemote(ctx, base, &http.Client{Transport: tr}, opts)
	out := verifyJSON{OK: verr == nil, Target: base}
	if rep != nil {
		out.Size, out.Root, out.Checkpoints, out.LatestSize = rep.Size, rep.Root.String(), rep.Checkpoints, rep.LatestSize
		if len(opts.Witnesses) > 0 {
			out.WitnessedSize = &rep.WitnessedSize
		}
	}
	return a.reportVerify(out, verr, cf, true)
}

// transportWithCA trusts the system roots plus caFile (TLS 1.3).
func transportWithCA(caFile string, insecure bool) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
		}
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, InsecureSkipVerify: insecure}, MaxIdleConnsPerHost: 8}, nil
}

// auditRequest builds a request to the audit admin API on alias,
// authenticated with the session token when logged in, else signed with
// the alias's access key.
func (a *app) auditRequest(ctx context.Context, aliasName string, cf *commonFlags, method, path string) (*remote, *http.Request, error) {
	r, err := a.connectAlias("audit", aliasName, cf)
	if err != nil {
		return nil, nil, err
	}
	name := r.name
	var tok string
	if m, _, err := a.loadSessions(); err == nil {
		tok = m[name]
	}
	req, err := r.adminRequest(ctx, method, path, nil, tok, true)
	if err != nil {
		return nil, nil, err
	}
	return r, req, nil
}

func (a *app) cmdAuditSearch(ctx context.Context, args []string) error {
	fs := newFlags("audit search", `coffer audit search ALIAS [--actor U] [--action A] [--resource PREFIX]
                     [--outcome allowed|denied|error] [--since T] [--until T] [--limit N] [--newest]

Search the ledger's index (the ledger stays the source of truth: fetch an
entry's proof with coffer audit prove N). --action takes an exact action or
a prefix such as 's3:*'; times are RFC 3339 or a duration ago ("24h").`)
	var actor, action, resource, outcome, since, until string
	var limit int
	var newest bool
	fs.StringVar(&actor, "actor", "", "user name")
	fs.StringVar(&action, "action", "", "action, or a prefix ending in *")
	fs.StringVar(&resource, "resource", "", "resource prefix (bucket/key, or user:NAME, ...)")
	fs.StringVar(&outcome, "outcome", "", "allowed, denied or error")
	fs.StringVar(&since, "since", "", "from this time (RFC 3339, or a duration ago)")
	fs.StringVar(&until, "until", "", "before this time (RFC 3339, or a duration ago)")
	fs.IntVar(&limit, "limit", 100, "at most this many results (1-1000)")
	fs.BoolVar(&newest, "newest", false, "newest first")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"actor": actor, "action": action, "resource": resource, "outcome": outcome} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]string{"since": since, "until": until} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err == nil {
			v = time.Now().Add(-d).UTC().Format(time.RFC3339)
		} else if _, err := time.Parse(time.RFC3339, v); err != nil {
			return usagef(fs.cmd, "--%s %q is neither an RFC 3339 time nor a duration", k, v)
		}
		q.Set(k, v)
	}
	q.Set("limit", strconv.Itoa(limit))
	if newest {
		q.Set("newest", "true")
	}
	var out struct {
		Hits    []server.SearchHitJSON `json:"hits"`
		Indexed int64                  `json:"indexed"`
	}
	if err := a.auditCall(ctx, pos[0], &fs.common, http.MethodGet, "/audit/search?"+q.Encode(), &out); err != nil {
		return err
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	tw := a.newTable("INDEX\tTIME\tACTOR\tACTION\tRESOURCE\tOUTCOME\tSOURCE")
	for _, h := range out.Hits {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Index, h.Time.UTC().Format(time.RFC3339), dash(h.Actor), h.Action, dash(h.Resource), h.Outcome, dash(h.SourceIP))
	}
	tw.Flush()
	if !fs.common.quiet {
		fmt.Fprintf(a.stderr, "%d results (index covers the first %d ledger entries)\n", len(out.Hits), out.Indexed)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) cmdAuditTail(ctx context.Context, args []string) error {
	fs := newFlags("audit tail", `coffer audit tail ALIAS [-f] [--from N] [--json]

Print ledger records from index N (default: the last 10) as they are;
with -f keep following new ones until interrupted. --json prints the
exported records (index, leaf hash, commitment, salt, event), which
anyone can check against the tree.`)
	var follow bool
	var from int64 = -1
	fs.boolFlag(&follow, "follow new records", "f", "follow")
	fs.Int64Var(&from, "from", -1, "first ledger index (default: the last 10)")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if from < 0 {
		var st struct {
			Size int64 `json:"size"`
		}
		if err := a.auditCall(ctx, pos[0], &fs.common, http.MethodGet, "/audit/status", &st); err != nil {
			return err
		}
		from = max(st.Size-10, 0)
	}
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if follow {
		q.Set("follow", "true")
	}
	r, req, err := a.auditRequest(ctx, pos[0], &fs.common, http.MethodGet, "/audit/tail?"+q.Encode())
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: done following
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return r.decodeAdmin(resp, nil)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxAdminResponse) // one record at most; a longer line fails the scan
	for sc.Scan() {
		line := sc.Bytes()
		if fs.common.json {
			fmt.Fprintf(a.stdout, "%s\n", line)
			continue
		}
		var rec struct {
			Index  int64           `json:"index"`
			Erased bool            `json:"erased"`
			Event  json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("the server sent a record that is not JSON: %w", err)
		}
		if rec.Erased {
			fmt.Fprintf(a.stdout, "%d  (erased)\n", rec.Index)
			continue
		}
		ev, err := audit.DecodeEvent(rec.Event)
		if err != nil {
			return fmt.Errorf("record %d: %w", rec.Index, err)
		}
		res := ev.Resource.Admin
		if ev.Resource.Bucket != "" {
			res = ev.Resource.Bucket + "/" + ev.Resource.Key
		}
		out := ev.Outcome.Result
		if ev.Outcome.Reason != "" {
			out += " (" + ev.Outcome.Reason + ")"
		}
		fmt.Fprintf(a.stdout, "%d  %s  %s  %s  %s  %s\n", rec.Index, ev.Time.UTC().Format(time.RFC3339), dash(ev.Actor.User), ev.Action, dash(res), out)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
