package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
)

// ErrErased reports a payload whose subject key has been destroyed.
var ErrErased = errors.New("audit: subject erased")

// A Sealer holds one key per data subject and seals payloads with it.
// Subjects are named by SubjectID, never by the user name, so the payload
// store does not carry names in clear.
//
// Implementations must be safe for concurrent use. Open must return an
// error wrapping ErrErased for anything sealed before Erase(subject), and
// Seal after Erase must use a fresh key.
type Sealer interface {
	Seal(subjectID string, plaintext, ad []byte) ([]byte, error)
	Open(subjectID string, sealed, ad []byte) ([]byte, error)
	Erase(subjectID string) error
}

// SubjectID returns the identifier the payload store uses for a data
// subject: hex(SHA-256("coffer/audit/subject/v1" || 0x00 || subject)). It is
// pseudonymous, not anonymous: someone who guesses a user name can compute
// it.
func SubjectID(subject string) string {
	h := subjectHash(subject)
	return hex.EncodeToString(h[:])
}

// subjectHash is SubjectID before hex encoding (as payload records store it).
func subjectHash(subject string) [sha256.Size]byte {
	return sha256.Sum256([]byte("coffer/audit/subject/v1\x00" + subject))
}

// DirSealer is a Sealer with AES-256-GCM keys kept one file per subject and
// key generation under a directory:
//
//	<dir>/<subject id>/<generation>   32 random bytes, mode 0600
//	<dir>/<subject id>/erased         last erased generation (decimal)
//
// Sealed values are generation (4 bytes, big endian) || nonce (12) ||
// ciphertext || tag. Erase removes the subject's key files and records the
// last generation erased; the next Seal starts a new generation.
//
// With a KeyWrapper (NewDirSealerWrapped) the key files hold the subject
// keys wrapped, for example by the server's root key; without one they are
// stored in the clear and protected only by file permissions.
type DirSealer struct {
	dir  string
	wrap KeyWrapper

	mu   sync.Mutex
	keys map[string]subjectKeys
}

type subjectKeys struct {
	gen    uint32 // current generation, 0 if none yet
	erased uint32 // generations <= erased are destroyed
	aead   map[uint32]cipher.AEAD
}

// KeyWrapper protects subject keys at rest. The associated data names the
// subject and generation, so a wrapped key cannot be moved to another.
type KeyWrapper interface {
	WrapKey(key, ad []byte) ([]byte, error)
	UnwrapKey(wrapped, ad []byte) ([]byte, error)
}

// NewDirSealer returns a DirSealer storing keys under dir (created 0700).
func NewDirSealer(dir string) (*DirSealer, error) {
	return NewDirSealerWrapped(dir, nil)
}

// NewDirSealerWrapped returns a DirSealer whose key files are wrapped by w
// (nil: stored in the clear).
func NewDirSealerWrapped(dir string, w KeyWrapper) (*DirSealer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: key dir: %w", err)
	}
	return &DirSealer{dir: dir, wrap: w, keys: make(map[string]subjectKeys)}, nil
}

func keyAD(id string, gen uint32) []byte {
	return []byte("coffer/audit/subject-key/v1/" + id + "/" + strconv.FormatUint(uint64(gen), 10))
}

func validSubjectID(id string) error {
	if len(id) != 64 {
		return fmt.Errorf("audit: bad subject id %q", id)
	}
	if _, err := hex.DecodeString(id); err != nil {
		return fmt.Errorf("audit: bad subject id %q", id)
	}
	return nil
}

// load reads a subject's state; s.mu must be held.
func (s *DirSealer) load(id string) (subjectKeys, error) {
	if k, ok := s.keys[id]; ok {
		return k, nil
	}
	k := subjectKeys{aead: make(map[uint32]cipher.AEAD)}
	sd := filepath.Join(s.dir, id)
	ents, err := os.ReadDir(sd)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return k, fmt.Errorf("audit: read keys: %w", err)
	}
	for _, e := range ents {
		if e.Name() == "erased" {
			b, err := os.ReadFile(filepath.Join(sd, "erased"))
			if err != nil {
				return k, fmt.Errorf("audit: read keys: %w", err)
			}
			g, err := strconv.ParseUint(string(b), 10, 32)
			if err != nil {
				return k, fmt.Errorf("audit: bad erased marker for %s", id)
			}
			k.erased = uint32(g)
			k.gen = max(k.gen, k.erased)
			continue
		}
		g, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		key, err := os.ReadFile(filepath.Join(sd, e.Name()))
		if err != nil {
			return k, fmt.Errorf("audit: read key: %w", err)
		}
		if s.wrap != nil {
			if key, err = s.wrap.UnwrapKey(key, keyAD(id, uint32(g))); err != nil {
				return k, fmt.Errorf("audit: unwrap key of %s generation %d: %w", id, g, err)
			}
		}
		a, err := newAEAD(key)
		if err != nil {
			return k, err
		}
		k.aead[uint32(g)] = a
		k.gen = max(k.gen, uint32(g))
	}
	s.keys[id] = k
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("audit: key file is not 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// current returns the subject's current key, creating one if needed.
func (s *DirSealer) current(id string) (uint32, cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.load(id)
	if err != nil {
		return 0, nil, err
	}
	if a, ok := k.aead[k.gen]; ok && k.gen > k.erased {
		return k.gen, a, nil
	}
	gen := k.gen + 1
	key := make([]byte, 32)
	rand.Read(key)
	sd := filepath.Join(s.dir, id)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return 0, nil, fmt.Errorf("audit: create key: %w", err)
	}
	stored := key
	if s.wrap != nil {
		var err error
		if stored, err = s.wrap.WrapKey(key, keyAD(id, gen)); err != nil {
			return 0, nil, fmt.Errorf("audit: wrap key: %w", err)
		}
	}
	if err := fsutil.WriteFile(filepath.Join(sd, strconv.FormatUint(uint64(gen), 10)), stored, 0o600, true); err != nil {
		return 0, nil, fmt.Errorf("audit: create key: %w", err)
	}
	a, err := newAEAD(key)
	if err != nil {
		return 0, nil, err
	}
	k.aead[gen] = a
	k.gen = gen
	s.keys[id] = k
	return gen, a, nil
}

// Seal implements Sealer.
func (s *DirSealer) Seal(id string, plaintext, ad []byte) ([]byte, error) {
	if err := validSubjectID(id); err != nil {
		return nil, err
	}
	gen, a, err := s.current(id)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4+12, 4+12+len(plaintext)+16)
	binary.BigEndian.PutUint32(out, gen)
	rand.Read(out[4:16])
	return a.Seal(out, out[4:16], plaintext, ad), nil
}

// Open implements Sealer.
func (s *DirSealer) Open(id string, sealed, ad []byte) ([]byte, error) {
	if err := validSubjectID(id); err != nil {
		return nil, err
	}
	if len(sealed) < 4+12+16 {
		return nil, errors.New("audit: sealed payload too short")
	}
	gen := binary.BigEndian.Uint32(sealed)
	s.mu.Lock()
	k, err := s.load(id)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if gen <= k.erased {
		// Even if a key file survived an interrupted Erase.
		return nil, ErrErased
	}
	a, ok := k.aead[gen]
	if !ok {
		return nil, fmt.Errorf("audit: no key generation %d for subject %s", gen, id)
	}
	pt, err := a.Open(nil, sealed[4:16], sealed[16:], ad)
	if err != nil {
		return nil, fmt.Errorf("audit: open payload: %w", err)
	}
	return pt, nil
}

// Erase implements Sealer: it records the erasure, then removes every key
// file of the subject. The marker is written first so that a crash half way
// leaves the subject erased, not half-erased.
func (s *DirSealer) Erase(id string) error {
	if err := validSubjectID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.load(id)
	if err != nil {
		return err
	}
	sd := filepath.Join(s.dir, id)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return fmt.Errorf("audit: erase: %w", err)
	}
	if err := fsutil.WriteFile(filepath.Join(sd, "erased"), []byte(strconv.FormatUint(uint64(k.gen), 10)), 0o600, false); err != nil {
		return fmt.Errorf("audit: erase: %w", err)
	}
	// Erased from here on, even if removing the key files fails (they stay
	// listed, so a retried Erase removes them).
	k.erased = k.gen
	s.keys[id] = k
	for g := range k.aead {
		if err := os.Remove(filepath.Join(sd, strconv.FormatUint(uint64(g), 10))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("audit: erase: %w", err)
		}
	}
	if err := fsutil.SyncDir(sd); err != nil {
		return fmt.Errorf("audit: erase: %w", err)
	}
	s.keys[id] = subjectKeys{gen: k.gen, erased: k.gen, aead: make(map[uint32]cipher.AEAD)}
	return nil
}
