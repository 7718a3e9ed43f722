package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTilePath(t *testing.T) {
	tests := []struct {
		tile tlog.Tile
		want string
	}{
		{tlog.Tile{H: 8, L: 0, N: 0, W: 256}, "tile/0/000"},
		{tlog.Tile{H: 8, L: 1, N: 1234067, W: 256}, "tile/1/x001/x234/067"},
		{tlog.Tile{H: 8, L: 0, N: 5, W: 17}, "tile/0/005.p/17"},
		{tlog.Tile{H: 8, L: -1, N: 1234, W: 256}, "tile/entries/x001/234"},
		{tlog.Tile{H: 8, L: -1, N: 0, W: 3}, "tile/entries/000.p/3"},
	}
	for _, tt := range tests {
		if got := tilePath(tt.tile); got != tt.want {
			t.Errorf("tilePath(%+v) = %q, want %q", tt.tile, got, tt.want)
		}
	}
}

// TestFrontierMatchesTlog checks the frontier against tlog with every
// stored hash kept, and the tiler against tlog.ReadTileData.
func TestFrontierMatchesTlog(t *testing.T) {
	var all []tlog.Hash
	store := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = all[x]
		}
		return out, nil
	})
	var fr frontier
	var tl tiler
	var full []tileData
	for n := int64(0); n < 70000; n++ {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		e := sha256.Sum256(b[:])
		want, err := tlog.StoredHashes(n, e[:], store)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fr.add(e[:])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[len(got)-1] != want[len(want)-1] {
			t.Fatalf("stored hashes differ at %d", n)
		}
		all = append(all, want...)
		full = tl.add(n, e[:], got, full)
		if n%4099 == 0 || n == 65535 {
			wr, _ := tlog.TreeHash(n+1, store)
			if r, err := fr.root(); err != nil || r != wr {
				t.Fatalf("root differs at size %d: %v", n+1, err)
			}
		}
	}
	for _, td := range full {
		if td.tile.L < 0 {
			continue
		}
		want, err := tlog.ReadTileData(td.tile, store)
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != string(td.data) {
			t.Fatalf("tile %s differs from tlog.ReadTileData", tilePath(td.tile))
		}
	}
	if len(full) < 2*273 {
		t.Fatalf("only %d full tiles", len(full))
	}
}

// TestOpenRepairsTiles simulates tiles lost to a power loss.
func TestOpenRepairsTiles(t *testing.T) {
	tl := buildLedger(t)
	os.Remove(tl.path("tile/entries/000"))
	if err := os.Truncate(tl.path("tile/0/001"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.verify(t); err == nil {
		t.Fatal("Verify passed with lost tiles")
	}
	tl.open(t, Options{SegmentEntries: 256}).Close()
	if _, err := tl.verify(t); err != nil {
		t.Fatalf("Verify after reopen: %v", err)
	}
}
