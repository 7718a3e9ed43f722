package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkWitnessAddCheckpoint measures the witness's add-checkpoint
// (in process: log signature check, consistency proof, state fsync,
// cosignature), each checkpoint one entry larger than the last.
func BenchmarkWitnessAddCheckpoint(b *testing.B) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "bench.example/log")
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	w, err := NewWitness(b.TempDir(), WitnessOptions{Name: "bench.example/w", Logs: []WitnessedLog{{VerifierKey: vkey}}})
	if err != nil {
		b.Fatal(err)
	}
	// Precompute b.N+1 checkpoints and the proofs between neighbours.
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	msgs := make([][]byte, b.N+1)
	proofs := make([]tlog.TreeProof, b.N+1)
	for n := int64(1); n <= int64(b.N)+1; n++ {
		e := sha256.Sum256([]byte{byte(n), byte(n >> 8), byte(n >> 16)})
		hs, err := tlog.StoredHashes(n-1, e[:], hr)
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, hs...)
		root, err := tlog.TreeHash(n, hr)
		if err != nil {
			b.Fatal(err)
		}
		if msgs[n-1], err = signCheckpoint(Checkpoint{Origin: "bench.example/log", Tree: tlog.Tree{N: n, Hash: root}}, signer); err != nil {
			b.Fatal(err)
		}
		if n > 1 {
			if proofs[n-1], err = tlog.ProveTree(n, n-1, hr); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	if _, err := w.AddCheckpoint(ctx, 0, nil, msgs[0]); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if _, err := w.AddCheckpoint(ctx, int64(i), proofs[i], msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
