package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"testing"
)

// benchSize is the stream size of the stream benchmarks.
const benchSize = 16 << 20

// BenchmarkEncryptWriter seals a 16 MiB stream, written in 1 MiB chunks.
func BenchmarkEncryptWriter(b *testing.B) {
	plain := pattern(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		w, err := EncryptWriter(io.Discard, testDEK(1), testBinding)
		if err != nil {
			b.Fatal(err)
		}
		for p := plain; len(p) > 0; p = p[1<<20:] {
			if _, err := w.Write(p[:1<<20]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptRange opens a whole 16 MiB stream through DecryptRange.
func BenchmarkDecryptRange(b *testing.B) {
	plain := pattern(benchSize)
	sealed := sealBytes(b, plain, testDEK(1), testBinding, preferredSuite(), 0)
	src := bytes.NewReader(sealed)
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		r, err := DecryptRange(src, benchSize, testDEK(1), testBinding, 0, benchSize)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawAESGCM is the floor for the stream benchmarks: AES-256-GCM
// Seal over 64 KiB buffers, with no framing, key derivation or copying.
func BenchmarkRawAESGCM(b *testing.B) {
	key := testDEK(1)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	plain := pattern(benchSize)
	out := make([]byte, 0, PackageSize+aead.Overhead())
	nonce := make([]byte, aead.NonceSize())
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		for p := plain; len(p) > 0; p = p[PackageSize:] {
			nonce[0]++
			out = aead.Seal(out[:0], nonce, p[:PackageSize], nil)
		}
	}
}
