package audit

// This file is the ledger's Merkle bookkeeping. The tree is RFC 6962's, as
// implemented by golang.org/x/mod/sumdb/tlog; nothing here hashes nodes
// itself. A growing tree needs only its right edge (the roots of its
// complete subtrees, at most 64 hashes) to add the next leaf and to compute
// its root, so the frontier below is a tlog.HashReader over that edge. The
// tiler groups the stored hashes into C2SP tlog-tiles tiles.

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight = 8               // C2SP tlog-tiles: tiles are 2^8 hashes wide
	tileWidth  = 1 << tileHeight // hashes (or entries) in a full tile
	entrySize  = 32              // an entry is a SHA-256 commitment
)

// frontier holds the right edge of a tree of n leaves: the stored hashes of
// its maximal complete subtrees, left to right. It implements
// tlog.HashReader for exactly the hashes tlog.StoredHashes and tlog.TreeHash
// ask for.
type frontier struct {
	n    int64
	idx  []int64
	hash []tlog.Hash
}

func (f *frontier) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		j := len(f.idx) - 1
		for j >= 0 && f.idx[j] != x {
			j--
		}
		if j < 0 {
			return nil, fmt.Errorf("audit: stored hash %d is not on the frontier of tree %d", x, f.n)
		}
		out[i] = f.hash[j]
	}
	return out, nil
}

// add appends a leaf with the given entry and returns its stored hashes,
// which tlog stores from StoredHashIndex(0, n) on.
func (f *frontier) add(entry []byte) ([]tlog.Hash, error) {
	hs, err := tlog.StoredHashes(f.n, entry, f)
	if err != nil {
		return nil, err
	}
	// The leaf completed len(hs)-1 subtrees, each consuming one frontier
	// hash; the largest new subtree joins the frontier.
	k := len(hs) - 1
	f.idx = f.idx[:len(f.idx)-k]
	f.hash = f.hash[:len(f.hash)-k]
	f.idx = append(f.idx, tlog.StoredHashIndex(0, f.n)+int64(k))
	f.hash = append(f.hash, hs[k])
	f.n++
	return hs, nil
}

// root returns the tree hash of the current tree.
func (f *frontier) root() (tlog.Hash, error) { return tlog.TreeHash(f.n, f) }

// A tileData is a tile and its contents.
type tileData struct {
	tile tlog.Tile
	data []byte
}

// tiler assembles the tiles of a growing tree: the entry bundle and the
// rightmost tile at each level. Full tiles are handed out as they complete;
// partial ones on request.
type tiler struct {
	entries tileBuf   // tile/entries: uint16 length || entry, per entry
	levels  []tileBuf // tile/<L>: the stored hashes at tlog level 8L
}

type tileBuf struct {
	n     int64 // tile number
	count int   // hashes or entries in data
	data  []byte
}

// add records leaf n (its entry and stored hashes) and appends any tiles it
// completes to full.
func (t *tiler) add(n int64, entry []byte, hs []tlog.Hash, full []tileData) []tileData {
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(entry)))
	t.entries.data = append(append(t.entries.data, l[:]...), entry...)
	t.entries.count++
	if t.entries.count == tileWidth {
		full = append(full, tileData{tlog.Tile{H: tileHeight, L: -1, N: t.entries.n, W: tileWidth}, t.entries.data})
		t.entries = tileBuf{n: t.entries.n + 1}
	}
	// hs[i] is at tlog level i; tile level L holds tlog level 8L.
	for lvl := 0; lvl < len(hs); lvl += tileHeight {
		tl := lvl / tileHeight
		for len(t.levels) <= tl {
			t.levels = append(t.levels, tileBuf{})
		}
		b := &t.levels[tl]
		b.data = append(b.data, hs[lvl][:]...)
		b.count++
		if b.count == tileWidth {
			full = append(full, tileData{tlog.Tile{H: tileHeight, L: tl, N: b.n, W: tileWidth}, b.data})
			*b = tileBuf{n: b.n + 1}
		}
	}
	return full
}

// partial returns the incomplete rightmost tiles (copies).
func (t *tiler) partial() []tileData {
	var out []tileData
	if t.entries.count > 0 {
		out = append(out, tileData{tlog.Tile{H: tileHeight, L: -1, N: t.entries.n, W: t.entries.count}, clone(t.entries.data)})
	}
	for tl, b := range t.levels {
		if b.count > 0 {
			out = append(out, tileData{tlog.Tile{H: tileHeight, L: tl, N: b.n, W: b.count}, clone(b.data)})
		}
	}
	return out
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// tilePath returns the C2SP tlog-tiles path of t: "tile/<L>/<N>[.p/<W>]"
// or "tile/entries/<N>[.p/<W>]". It is tlog.Tile.Path (the Go checksum
// database's layout) without the tile height element, which C2SP fixes at 8.
func tilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if t.L == -1 {
		p = "entries" + strings.TrimPrefix(p, "data")
	}
	return "tile/" + p
}

// tileCovers reports whether tile t (full) covers any leaf at or after n.
func tileEnd(t tlog.Tile) int64 {
	l := max(t.L, 0)
	return (t.N + 1) << (uint(tileHeight) * uint(l+1))
}
