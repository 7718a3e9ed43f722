package main

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
)

// blockSize is the length of the pseudo-random block that payloads are made of.
const blockSize = 1 << 20

// seedBlock returns blockSize bytes from a ChaCha8 stream with a fixed seed, so
// every run (and every machine) sends the same bytes.
func seedBlock() []byte {
	var seed [32]byte
	copy(seed[:], "coffer-bench-s3load-payload-seed")
	b := make([]byte, blockSize)
	if _, err := rand.NewChaCha8(seed).Read(b); err != nil {
		panic(err) // ChaCha8.Read never fails
	}
	return b
}

// payload is a deterministic, read-once stream of size bytes. It never holds
// more than one block in memory: the content at offset o is block[o%blockSize]
// with the block number mixed into the first eight bytes of every block, so no
// two blocks of one object are identical.
type payload struct {
	block []byte
	size  int64
	off   int64
}

func newPayload(block []byte, size int64) *payload {
	return &payload{block: block, size: size}
}

// Read implements io.Reader.
func (p *payload) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	if rem := p.size - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) {
		i := (p.off + int64(n)) % blockSize
		c := copy(b[n:], p.block[i:])
		if i < 8 {
			blk := uint64((p.off + int64(n)) / blockSize)
			for j := i; j < 8 && j-i < int64(c); j++ {
				b[n+int(j-i)] ^= byte(blk >> (8 * j))
			}
		}
		n += c
	}
	p.off += int64(n)
	return n, nil
}

// errMismatch reports downloaded content that differs from the generator.
var errMismatch = errors.New("downloaded content differs from the generated payload")

// verifier is an io.Writer that counts the bytes written and, if check is
// set, compares them with the payload generator's output.
type verifier struct {
	want    *payload // the expected stream; nil: count only
	n       int64
	scratch []byte
}

func newVerifier(block []byte, size int64, check bool) *verifier {
	v := &verifier{}
	if check {
		v.want = newPayload(block, size)
	}
	return v
}

// Write implements io.Writer.
func (v *verifier) Write(b []byte) (int, error) {
	if v.want != nil {
		if cap(v.scratch) < len(b) {
			v.scratch = make([]byte, len(b))
		}
		exp := v.scratch[:len(b)]
		n, _ := io.ReadFull(v.want, exp)
		if n != len(b) || !bytes.Equal(exp, b) {
			return 0, errMismatch
		}
	}
	v.n += int64(len(b))
	return len(b), nil
}
