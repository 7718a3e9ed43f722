package audit

// A Witness is the server side of C2SP tlog-witness: it is configured with
// the logs it watches (origin and note verifier key) and, for each, keeps
// the latest checkpoint it cosigned. A log submits a new checkpoint with a
// consistency proof from that one; the witness checks the log's signature
// and the proof, records the new checkpoint durably and only then answers
// with a timestamped cosignature (C2SP tlog-cosignature, cosignature/v1,
// Ed25519). It never cosigns a checkpoint that is not an append-only
// extension of what it cosigned before, so two views of one log cannot
// both carry its cosignature.
//
// Its directory holds
//
//	key            the witness's note signer key (private), mode 0600
//	key.pub        its cosignature/v1 verifier key (`coffer audit witness-pubkey`)
//	logs/<id>      per log, the latest checkpoint it cosigned, as submitted
//	               (<id> = hex SHA-256 of the origin)
//
// A lost or corrupt logs/ file must not be papered over: NewWitness fails
// rather than start again from nothing, which would let a log roll back.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// WitnessAddCheckpointPath is where a server mounts a Witness: the
// tlog-witness submission prefix "/witness" followed by "/add-checkpoint".
const WitnessAddCheckpointPath = "/witness/add-checkpoint"

// maxProofLines is the tlog-witness limit on consistency proof lines.
const maxProofLines = 63

// WitnessedLog is a log a Witness cosigns for.
type WitnessedLog struct {
	// Origin is the checkpoint origin line. Default: the key's name.
	Origin string
	// VerifierKey is the log's note verifier key (`coffer audit pubkey`).
	VerifierKey string
}

// WitnessOptions configure a Witness.
type WitnessOptions struct {
	// Name is the witness key's name, used when the key is created (a
	// schema-less URL such as "witness.example.com/coffer"). An existing
	// key must have this name. Required.
	Name string
	// Logs are the logs the witness accepts checkpoints from. Several
	// entries may share an origin (a log with more than one key).
	Logs []WitnessedLog
	// MaxBodyBytes bounds an add-checkpoint request. Default 64 KiB.
	MaxBodyBytes int64
	// Logger receives refused submissions (possible evidence of a
	// misbehaving log). Default: discard.
	Logger *slog.Logger
}

// Witness is a C2SP tlog-witness. It is an http.Handler for
// add-checkpoint and is safe for concurrent use.
type Witness struct {
	dir    string
	opts   WitnessOptions
	signer note.Signer
	vkey   string
	logs   map[string]*witnessedLog // by origin
}

type witnessedLog struct {
	origin    string
	verifiers note.Verifiers
	path      string

	mu    sync.Mutex // serialises check-and-persist
	state Checkpoint // latest cosigned; Tree.N == 0 and !seen if never
	seen  bool
}

// WitnessError is a refused submission. Status is the HTTP status the
// tlog-witness protocol assigns to it; for 409 Conflict, Size is the size
// of the latest checkpoint the witness cosigned for the origin.
type WitnessError struct {
	Status int
	Size   int64
	Reason string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("audit: witness: %s (HTTP %d)", e.Reason, e.Status)
}

func werr(status int, format string, args ...any) *WitnessError {
	return &WitnessError{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// NewWitness opens (creating if needed) the witness in dir.
func NewWitness(dir string, opts WitnessOptions) (*Witness, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		return nil, errors.New("audit: witness: WitnessOptions.Name is required")
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("audit: witness: %w", err)
	}
	signer, vkey, err := loadOrCreateKey(dir, opts.Name, witnessKeyFormat())
	if err != nil {
		return nil, fmt.Errorf("audit: witness key: %w", err)
	}
	w := &Witness{dir: dir, opts: opts, signer: signer, vkey: vkey, logs: make(map[string]*witnessedLog)}
	verifiers := make(map[string][]note.Verifier)
	for _, lg := range opts.Logs {
		v, err := note.NewVerifier(lg.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("audit: witness: log key %q: %w", lg.VerifierKey, err)
		}
		origin := lg.Origin
		if origin == "" {
			origin = v.Name()
		}
		verifiers[origin] = append(verifiers[origin], v)
	}
	for origin, vs := range verifiers {
		wl := &witnessedLog{
			origin:    origin,
			verifiers: note.VerifierList(vs...),
			path:      filepath.Join(dir, "logs", witnessLogID(origin)),
		}
		if err := wl.load(); err != nil {
			return nil, fmt.Errorf("audit: witness: state of %q: %w", origin, err)
		}
		w.logs[origin] = wl
	}
	return w, nil
}

func witnessLogID(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(h[:])
}

// load reads the persisted state. The file is the witness's own record,
// so it is parsed, not re-verified (the log's key may have been rotated
// since); a file that does not parse is an error, never a fresh start.
func (wl *witnessedLog) load() error {
	b, err := fsutil.ReadFile(wl.path, maxCheckpointSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	i := bytes.LastIndex(b, []byte("\n\n"))
	if i < 0 {
		return errors.New("malformed state file")
	}
	c, err := ParseCheckpoint(string(b[:i+1]))
	if err != nil {
		return err
	}
	if c.Origin != wl.origin {
		return fmt.Errorf("state file is for origin %q", c.Origin)
	}
	wl.state, wl.seen = c, true
	return nil
}

// ReadWitnessPublicKey returns the cosignature/v1 verifier key of the
// witness in dir (for `coffer audit witness-pubkey`). Logs configure it as
// WitnessConfig.VerifierKey, verifiers as VerifyOptions.Witnesses.
func ReadWitnessPublicKey(dir string) (string, error) {
	vkey, err := readPublicKey(dir, witnessKeyFormat())
	if err != nil {
		return "", fmt.Errorf("audit: witness public key: %w", err)
	}
	return vkey, nil
}

// PublicKey returns the witness's cosignature/v1 verifier key.
func (w *Witness) PublicKey() string { return w.vkey }

// Latest returns the latest checkpoint the witness cosigned for origin,
// and whether it has cosigned any.
func (w *Witness) Latest(origin string) (Checkpoint, bool) {
	wl, ok := w.logs[origin]
	if !ok {
		return Checkpoint{}, false
	}
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return wl.state, wl.seen
}

// AddCheckpoint is the add-checkpoint call: it checks that msg, a
// checkpoint signed by a configured log, extends the latest checkpoint the
// witness cosigned for its origin (of size old) by the consistency proof,
// records it durably and returns the witness's cosignature line(s). A
// refusal is a *WitnessError carrying the protocol's HTTP status.
func (w *Witness) AddCheckpoint(ctx context.Context, old int64, proof tlog.TreeProof, msg []byte) ([]byte, error) {
	origin, _, _ := strings.Cut(string(msg), "\n")
	wl, ok := w.logs[origin]
	if !ok {
		return nil, werr(http.StatusNotFound, "unknown log origin")
	}
	n, err := note.Open(msg, wl.verifiers)
	if err != nil {
		var une *note.UnverifiedNoteError
		var ise *note.InvalidSignatureError
		if errors.As(err, &une) || errors.As(err, &ise) {
			return nil, werr(http.StatusForbidden, "checkpoint is not signed by a known key of the log")
		}
		return nil, werr(http.StatusBadRequest, "malformed checkpoint note")
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil || c.Origin != origin {
		return nil, werr(http.StatusBadRequest, "malformed checkpoint")
	}
	if old < 0 || old > c.Tree.N {
		return nil, werr(http.StatusBadRequest, "old size %d is larger than the checkpoint size %d", old, c.Tree.N)
	}
	if len(proof) > maxProofLines || (old == 0 || old == c.Tree.N) && len(proof) != 0 {
		return nil, werr(http.StatusBadRequest, "consistency proof has the wrong length")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	wl.mu.Lock()
	defer wl.mu.Unlock()
	cur := wl.state
	if old != cur.Tree.N {
		e := werr(http.StatusConflict, "old size %d is not the witnessed size", old)
		e.Size = cur.Tree.N
		return nil, e
	}
	switch {
	case !wl.seen:
		// First checkpoint of this log: trust on first use.
	case old == c.Tree.N:
		if c.Tree.Hash != cur.Tree.Hash {
			w.opts.Logger.Warn("audit witness: refused fork (same size, different root)", "origin", origin, "size", old, "checkpoint", string(msg))
			e := werr(http.StatusConflict, "checkpoint has the witnessed size with a different root")
			e.Size = cur.Tree.N
			return nil, e
		}
	case old == 0:
		// Every tree extends the empty one.
	default:
		if err := tlog.CheckTree(proof, c.Tree.N, c.Tree.Hash, cur.Tree.N, cur.Tree.Hash); err != nil {
			w.opts.Logger.Warn("audit witness: refused inconsistent checkpoint", "origin", origin, "old", old, "size", c.Tree.N, "checkpoint", string(msg))
			return nil, werr(http.StatusUnprocessableEntity, "consistency proof does not verify")
		}
	}
	// Persist before answering: a cosignature must never be handed out
	// for a state the witness could forget.
	if !wl.seen || c.Tree.N != cur.Tree.N {
		if err := fsutil.WriteFile(wl.path, msg, 0o600, false); err != nil {
			return nil, fmt.Errorf("audit: witness: persist state: %w", err)
		}
		wl.state, wl.seen = c, true
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("audit: witness: cosign: %w", err)
	}
	return signed[len(n.Text)+1:], nil
}

// ServeHTTP serves add-checkpoint (mount it at WitnessAddCheckpointPath,
// or at "<submission prefix>/add-checkpoint").
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "bad request", http.StatusBadRequest)
		return
	}
	old, proof, msg, err := parseAddCheckpoint(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sigs, err := w.AddCheckpoint(r.Context(), old, proof, msg)
	var we *WitnessError
	switch {
	case errors.As(err, &we) && we.Status == http.StatusConflict:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", we.Size)
	case errors.As(err, &we):
		http.Error(rw, we.Reason, we.Status)
	case err != nil:
		w.opts.Logger.Error("audit witness: add-checkpoint failed", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(sigs)
	}
}

// parseAddCheckpoint splits an add-checkpoint body into the old size, the
// consistency proof and the checkpoint.
func parseAddCheckpoint(body []byte) (int64, tlog.TreeProof, []byte, error) {
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, nil, errors.New("malformed old size line")
	}
	s, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	old, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || old < 0 || strconv.FormatInt(old, 10) != s {
		return 0, nil, nil, errors.New("malformed old size line")
	}
	var proof tlog.TreeProof
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errors.New("missing empty line before the checkpoint")
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		if len(proof) == maxProofLines {
			return 0, nil, nil, errors.New("too many consistency proof lines")
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != tlog.HashSize {
			return 0, nil, nil, errors.New("malformed consistency proof line")
		}
		proof = append(proof, tlog.Hash(h))
	}
	msg, _ := io.ReadAll(r)
	if len(msg) == 0 {
		return 0, nil, nil, errors.New("missing checkpoint")
	}
	return old, proof, msg, nil
}

// formatAddCheckpoint is the client side of parseAddCheckpoint.
func formatAddCheckpoint(old int64, proof tlog.TreeProof, msg []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(msg)
	return b.Bytes()
}
