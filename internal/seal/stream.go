package seal

// The sealed object stream is DARE 2.0 as implemented by github.com/minio/sio
// (see its DARE.md): the plaintext is cut into 64 KiB packages, each sealed
// on its own as header (16 bytes) || ciphertext || tag (16 bytes). The nonce
// of package i is the stream's random nonce XOR i, and the last package has a
// final flag in its header, so a reader that starts at package i with
// sequence number i can decrypt any range without reading the packages
// before it, and a reader that reaches the end knows the stream was not cut
// short.
//
// Coffer adds only the key: sio's key is derived from the object's DEK and
// its Binding (bucket, key, version, part) with HKDF-SHA256, so a stream
// copied onto another name, version or part does not authenticate.

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/minio/sio"
	"golang.org/x/sys/cpu"
)

// Binding names what a sealed stream belongs to. It is bound into the key
// the stream is sealed under.
type Binding struct {
	Bucket    string
	Key       string
	VersionID string
	Part      int
}

// PackageSize is the plaintext size of one sealed package (DARE 2.0).
const PackageSize = 64 << 10

const (
	// objectDomain starts the HKDF info of every stream key.
	objectDomain = "coffer/object/v1"
	// packageHeaderSize and packageTagSize frame each DARE 2.0 package.
	packageHeaderSize = 16
	packageTagSize    = 16
	// sealedPackageSize is the ciphertext size of one full package.
	sealedPackageSize = packageHeaderSize + PackageSize + packageTagSize
	// MaxPlainSize is the largest stream DARE 2.0 can seal: 2^32 packages.
	MaxPlainSize = 1 << 48
)

// CiphertextSize returns the sealed size of plain plaintext bytes. It
// returns -1 when plain is negative or larger than MaxPlainSize.
func CiphertextSize(plain int64) int64 {
	if plain < 0 {
		return -1
	}
	n, err := sio.EncryptedSize(uint64(plain))
	if err != nil {
		return -1
	}
	return int64(n)
}

// streamKey derives the key sio seals a stream under from the DEK and the
// Binding. See the package documentation for the info encoding.
func streamKey(dek DEK, b Binding) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, dek[:], nil, bindingInfo(b), 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive stream key: %w", err)
	}
	return key, nil
}

// bindingInfo encodes b unambiguously: the fixed domain string, then each
// string field prefixed by its length, then Part, all integers as 8-byte big
// endian (Part in two's complement).
func bindingInfo(b Binding) string {
	buf := make([]byte, 0, len(objectDomain)+4*8+len(b.Bucket)+len(b.Key)+len(b.VersionID))
	buf = append(buf, objectDomain...)
	for _, s := range [...]string{b.Bucket, b.Key, b.VersionID} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.BigEndian.AppendUint64(buf, uint64(int64(b.Part)))
	return string(buf)
}

// preferredSuite picks AES-256-GCM where the CPU accelerates it and
// ChaCha20-Poly1305 elsewhere, the same rule sio applies.
func preferredSuite() byte {
	if (cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ) ||
		(cpu.ARM64.HasAES && cpu.ARM64.HasPMULL) ||
		runtime.GOARCH == "s390x" {
		return sio.AES_256_GCM
	}
	return sio.CHACHA20_POLY1305
}

// EncryptWriter returns a writer that seals what is written to it into dst.
// Close must be called to write the final package; it does not close dst.
// Writing after Close, or after a write to dst failed, returns an error.
func EncryptWriter(dst io.Writer, dek DEK, b Binding) (io.WriteCloser, error) {
	return encryptWriter(dst, dek, b, preferredSuite(), nil)
}

// encryptWriter is EncryptWriter with the cipher suite and, for test
// vectors only, the stream nonce chosen by the caller.
func encryptWriter(dst io.Writer, dek DEK, b Binding, suite byte, nonce *[12]byte) (io.WriteCloser, error) {
	if dst == nil {
		return nil, errors.New("seal: encrypt: nil destination")
	}
	key, err := streamKey(dek, b)
	if err != nil {
		return nil, err
	}
	w, err := sio.EncryptWriter(writerOnly{dst}, sio.Config{
		MinVersion:   sio.Version20,
		MaxVersion:   sio.Version20,
		CipherSuites: []byte{suite},
		Key:          key,
		Nonce:        nonce,
	})
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt: %w", err)
	}
	return &encWriter{w: w}, nil
}

// writerOnly hides any Close method of the destination: sio closes its
// destination on Close, our contract says we do not.
type writerOnly struct{ io.Writer }

// errWriterClosed is returned by Write after Close.
var errWriterClosed = errors.New("seal: write to closed stream")

// encWriter guards sio's writer: sio panics on Write after Close and would
// seal a final package after a failed write, truncating the stream silently.
type encWriter struct {
	w       io.WriteCloser
	written int64
	closed  bool
	err     error // first write error, returned from then on
}

func (e *encWriter) Write(p []byte) (int, error) {
	if e.closed {
		return 0, errWriterClosed
	}
	if e.err != nil {
		return 0, e.err
	}
	if int64(len(p)) > MaxPlainSize-e.written {
		e.err = fmt.Errorf("seal: encrypt: stream exceeds %d bytes", int64(MaxPlainSize))
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.written += int64(n)
	if err != nil {
		e.err = fmt.Errorf("seal: encrypt: %w", err)
		return n, e.err
	}
	return n, nil
}

// Close writes the final package. After a failed Write it writes nothing and
// returns that failure: the stream is incomplete and must be discarded.
func (e *encWriter) Close() error {
	if e.closed {
		return e.err
	}
	e.closed = true
	if e.err != nil {
		return e.err
	}
	if err := e.w.Close(); err != nil {
		e.err = fmt.Errorf("seal: encrypt: %w", err)
	}
	return e.err
}

// DecryptRange returns a reader of plaintext bytes [off, off+length) of a
// stream of plainSize bytes sealed in src. It reads and decrypts only the
// packages that cover the range. Reads fail with ErrIntegrity on tampering.
//
// DecryptRange itself only fails on invalid arguments; every integrity
// failure, including a stream cut short, surfaces from Read. When the range
// reaches the end of the stream, the reader also checks the final flag and
// that src holds no byte past CiphertextSize(plainSize) (src must therefore
// be exactly the sealed stream, for example an io.SectionReader). It does so
// in the Read that returns the last byte of the range, so a caller that
// stops after length bytes must still check that Read's error.
func DecryptRange(src io.ReaderAt, plainSize int64, dek DEK, b Binding, off, length int64) (io.Reader, error) {
	if src == nil {
		return nil, errors.New("seal: decrypt range: nil source")
	}
	if plainSize < 0 || plainSize > MaxPlainSize {
		return nil, fmt.Errorf("seal: decrypt range: invalid stream size %d", plainSize)
	}
	if off < 0 || length < 0 || off > plainSize || length > plainSize-off {
		return nil, fmt.Errorf("seal: decrypt range: range at %d of length %d is outside a stream of %d bytes", off, length, plainSize)
	}
	sealedSize := CiphertextSize(plainSize)
	r := &rangeReader{src: src, sealedSize: sealedSize, remaining: length}
	if length == 0 {
		// Nothing to decrypt. An empty stream has no package to carry a
		// final flag; still refuse ciphertext where there should be none.
		r.checkEnd = plainSize == 0
		return r, nil
	}

	first := off / PackageSize
	last := (off + length - 1) / PackageSize
	start := first * sealedPackageSize
	end := min((last+1)*sealedPackageSize, sealedSize)
	key, err := streamKey(dek, b)
	if err != nil {
		return nil, err
	}
	dec, err := sio.DecryptReader(io.NewSectionReader(src, start, end-start), sio.Config{
		MinVersion:     sio.Version20,
		MaxVersion:     sio.Version20,
		CipherSuites:   []byte{sio.AES_256_GCM, sio.CHACHA20_POLY1305},
		Key:            key,
		SequenceNumber: uint32(first),
	})
	if err != nil {
		return nil, fmt.Errorf("seal: decrypt range: %w", err)
	}
	r.dec = dec
	r.skip = off - first*PackageSize
	r.checkEnd = off+length == plainSize
	return r, nil
}

// rangeReader returns the plaintext of a range, decrypting through sio. The
// sio reader reads a section of src that ends with the last package covering
// the range; rangeReader never asks it for more than the range, so sio never
// looks for a final package beyond that section unless the section is the
// end of the stream.
type rangeReader struct {
	src        io.ReaderAt
	sealedSize int64
	dec        io.Reader // nil when the range is empty
	skip       int64     // plaintext to discard before the range
	remaining  int64     // plaintext of the range not yet returned
	checkEnd   bool      // the range ends where the stream ends
	err        error     // sticky: io.EOF or the first failure
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.skip > 0 {
		if _, err := io.CopyN(io.Discard, r.dec, r.skip); err != nil {
			r.err = r.failure(err)
			return 0, r.err
		}
		r.skip = 0
	}
	if r.remaining == 0 {
		r.err = r.finish()
		return 0, r.err
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.dec.Read(p)
	r.remaining -= int64(n)
	if err != nil && !(err == io.EOF && r.remaining == 0) {
		r.err = r.failure(err)
		return n, r.err
	}
	if r.remaining == 0 {
		// Check the end of the stream now, with the last bytes, so that a
		// caller that stops after length bytes still learns of a stream
		// that was cut short or extended.
		if err := r.finish(); err != io.EOF {
			r.err = err
			return n, err
		}
		r.err = io.EOF
	}
	return n, nil
}

// finish runs when the whole range was read. If the range ends where the
// stream ends, it makes sio read to the end of the section, which fails
// unless the last package carried the final flag, and checks that src ends
// there too.
func (r *rangeReader) finish() error {
	if !r.checkEnd {
		return io.EOF
	}
	if r.dec != nil {
		n, err := io.Copy(io.Discard, r.dec)
		if err != nil {
			return r.failure(err)
		}
		if n != 0 {
			return fmt.Errorf("%w: %d bytes of plaintext past the end of the stream", ErrIntegrity, n)
		}
	}
	var probe [1]byte
	n, err := r.src.ReadAt(probe[:], r.sealedSize)
	if n > 0 {
		return fmt.Errorf("%w: data after the end of the sealed stream", ErrIntegrity)
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("seal: read sealed stream: %w", err)
	}
	return io.EOF
}

// failure classifies an error from sio: anything sio could not authenticate,
// or a stream that ended early, is ErrIntegrity; anything else is an I/O
// error from src and is passed on.
func (r *rangeReader) failure(err error) error {
	var sioErr sio.Error
	switch {
	case errors.As(err, &sioErr):
		return fmt.Errorf("%w: %w", ErrIntegrity, err)
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: sealed stream ends early", ErrIntegrity)
	default:
		return fmt.Errorf("seal: read sealed stream: %w", err)
	}
}
