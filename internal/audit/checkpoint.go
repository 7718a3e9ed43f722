package audit

// Checkpoints follow C2SP tlog-checkpoint: a signed note (C2SP signed-note,
// golang.org/x/mod/sumdb/note, Ed25519) whose body is
//
//	<origin>\n<tree size, decimal>\n<base64 root hash>\n
//
// The note key's name is the origin. The log keeps its private key in
// <dir>/key (mode 0600, created on first open) and the verifier key in
// <dir>/key.pub. Every checkpoint issued is kept as checkpoints/<seq> and
// the latest is also published as <dir>/checkpoint.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a parsed checkpoint body.
type Checkpoint struct {
	Origin string
	Tree   tlog.Tree
}

func (c Checkpoint) body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Tree.N, base64.StdEncoding.EncodeToString(c.Tree.Hash[:]))
}

// ParseCheckpoint parses a checkpoint body (the text of an opened note).
// Extension lines after the root are allowed and ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, errors.New("malformed checkpoint")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, errors.New("malformed checkpoint size")
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, errors.New("malformed checkpoint root")
	}
	c := Checkpoint{Origin: lines[0], Tree: tlog.Tree{N: n}}
	copy(c.Tree.Hash[:], h)
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint with the verifier key vkey
// and parses it; the origin must be the key's name.
func OpenCheckpoint(msg []byte, vkey string) (Checkpoint, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("origin %q is not the key name %q", c.Origin, v.Name())
	}
	return c, nil
}

func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.body()}, s)
}

// A keyFormat says how a key pair in a directory (key, key.pub) is used:
// the log signs checkpoints with a note key, a witness cosigns with
// cosignature/v1 (logKeyFormat, witnessKeyFormat).
type keyFormat struct {
	pub      func(vkey string) (string, error) // key.pub text of a new note verifier key
	signer   func(skey string) (note.Signer, error)
	verifier func(vkey string) (note.Verifier, error)
}

func logKeyFormat() keyFormat {
	return keyFormat{
		pub:      func(vkey string) (string, error) { return vkey, nil },
		signer:   note.NewSigner,
		verifier: note.NewVerifier,
	}
}

func witnessKeyFormat() keyFormat {
	return keyFormat{
		pub:      fnote.VKeyToCosignatureV1,
		signer:   func(skey string) (note.Signer, error) { return fnote.NewSignerForCosignatureV1(skey) },
		verifier: fnote.NewVerifierForCosignatureV1,
	}
}

// loadOrCreateKey returns the signer and the verifier key text (key.pub)
// of the key pair in dir, creating an Ed25519 pair named name on first
// use. The private key file must be a regular file with mode 0600, named
// name, and match key.pub.
func loadOrCreateKey(dir, name string, kf keyFormat) (note.Signer, string, error) {
	path := filepath.Join(dir, "key")
	pubPath := filepath.Join(dir, "key.pub")
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			return nil, "", err
		}
		pub, err := kf.pub(vkey)
		if err != nil {
			return nil, "", err
		}
		if err := fsutil.WriteFile(pubPath, []byte(pub+"\n"), 0o644, false); err != nil {
			return nil, "", err
		}
		if err := fsutil.WriteFile(path, []byte(skey+"\n"), 0o600, true); err != nil {
			return nil, "", err
		}
		if fi, err = os.Lstat(path); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("%s: must be a regular file with mode 0600", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	s, err := kf.signer(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if s.Name() != name {
		return nil, "", fmt.Errorf("%s: key is named %q, not %q", path, s.Name(), name)
	}
	vkey, err := readPublicKey(dir, kf)
	if err != nil {
		return nil, "", err
	}
	if v, err := kf.verifier(vkey); err != nil || v.KeyHash() != s.KeyHash() || v.Name() != s.Name() {
		return nil, "", fmt.Errorf("%s does not match %s", pubPath, path)
	}
	return s, vkey, nil
}

// readPublicKey returns the verifier key in dir/key.pub, checked to parse.
func readPublicKey(dir string, kf keyFormat) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "key.pub"))
	if err != nil {
		return "", err
	}
	vkey := string(bytes.TrimSpace(b))
	if _, err := kf.verifier(vkey); err != nil {
		return "", err
	}
	return vkey, nil
}

// ReadPublicKey returns the verifier key of the ledger in dir, in the
// note verifier key format (for `coffer audit pubkey`).
func ReadPublicKey(dir string) (string, error) {
	vkey, err := readPublicKey(dir, logKeyFormat())
	if err != nil {
		return "", fmt.Errorf("audit: public key: %w", err)
	}
	return vkey, nil
}

// storedCheckpoint is one file of the checkpoint history.
type storedCheckpoint struct {
	name string // e.g. "checkpoints/00000000000000000007"
	seq  int64
	data []byte
}

// readCheckpointHistory returns the stored checkpoints in issue order.
func readCheckpointHistory(dir string) ([]storedCheckpoint, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	var out []storedCheckpoint
	for _, e := range ents {
		seq, ok := parseSegmentName(e.Name())
		if !ok {
			if strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			return nil, fmt.Errorf("unexpected file checkpoints/%s", e.Name())
		}
		b, err := fsutil.ReadFile(filepath.Join(dir, "checkpoints", e.Name()), maxCheckpointSize)
		if err != nil {
			return nil, err
		}
		out = append(out, storedCheckpoint{name: "checkpoints/" + e.Name(), seq: seq, data: b})
	}
	return out, nil // ReadDir sorts by name, and names are fixed-width
}
