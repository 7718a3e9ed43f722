package audit_test

// The independence test: a verifier that is not Coffer's code checks
// inclusion and consistency proofs for a ledger served over HTTPS by
// LedgerHandler. Everything on the client side of this file follows the
// public specifications only (C2SP tlog-tiles paths, tlog-checkpoint,
// signed-note, RFC 6962):
//
//   - checkpoints are parsed and their signatures checked by
//     github.com/transparency-dev/formats/log with a
//     golang.org/x/mod/sumdb/note verifier;
//   - inclusion and consistency proofs are assembled from fetched tiles
//     following github.com/transparency-dev/merkle/proof's node lists and
//     checked by its VerifyInclusion and VerifyConsistency with the RFC
//     6962 hasher (an implementation the ledger does not use);
//   - the same proofs are also built by x/mod/sumdb/tlog's ProveRecord and
//     ProveTree over a TileReader that fetches tiles over HTTP, and checked
//     by CheckRecord and CheckTree.
//
// The only audit code used is what builds the ledger and serves it.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coffer-vault/coffer/internal/audit"
	tdlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileClient fetches tlog-tiles resources from a log's base URL.
type tileClient struct {
	t      *testing.T
	base   string
	client *http.Client

	mu    sync.Mutex
	cache map[string][]byte
}

func (c *tileClient) get(path string) []byte {
	c.t.Helper()
	c.mu.Lock()
	b, ok := c.cache[path]
	c.mu.Unlock()
	if ok {
		return b
	}
	resp, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.cache[path] = b
	c.mu.Unlock()
	return b
}

// tileIndexPath encodes a tile index as C2SP tlog-tiles does: groups of
// three digits, all but the last prefixed with "x".
func tileIndexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

// tileName is the tlog-tiles path of tile n at level (or "entries") for a
// tree of the given number of items at that level.
func tileName(level string, n, items uint64) string {
	p := "tile/" + level + "/" + tileIndexPath(n)
	if w := items - n*256; w < 256 {
		p += fmt.Sprintf(".p/%d", w)
	}
	return p
}

// entry returns entry i of the tree of the given size from its bundle.
func (c *tileClient) entry(i, size uint64) []byte {
	c.t.Helper()
	b := c.get(tileName("entries", i/256, size))
	for k := uint64(0); ; k++ {
		if len(b) < 2 {
			c.t.Fatalf("entry %d: bundle too short", i)
		}
		l := int(binary.BigEndian.Uint16(b))
		if k == i%256 {
			return b[2 : 2+l]
		}
		b = b[2+l:]
	}
}

// nodeHash returns the hash of the RFC 6962 node at (level, index) in the
// tree of the given size: tiles hold the hashes at levels 0, 8, 16, ...;
// a node between them is hashed up from the tile level below it.
func (c *tileClient) nodeHash(level uint, index, size uint64) []byte {
	c.t.Helper()
	tl := level / 8
	if level%8 != 0 {
		return rfc6962.DefaultHasher.HashChildren(c.nodeHash(level-1, 2*index, size), c.nodeHash(level-1, 2*index+1, size))
	}
	items := size >> (8 * tl)
	b := c.get(tileName(fmt.Sprint(tl), index/256, items))
	off := (index % 256) * 32
	if uint64(len(b)) < off+32 {
		c.t.Fatalf("node (%d, %d): tile too short", level, index)
	}
	return b[off : off+32]
}

// ReadTiles, Height and SaveTiles make tileClient a tlog.TileReader.
func (c *tileClient) Height() int { return 8 }

func (c *tileClient) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		level := fmt.Sprint(t.L)
		if t.L < 0 {
			level = "entries"
		}
		items := uint64(t.N)*256 + uint64(t.W)
		out[i] = c.get(tileName(level, uint64(t.N), items))
	}
	return out, nil
}

func (c *tileClient) SaveTiles([]tlog.Tile, [][]byte) {}

// checkpoint fetches and verifies a checkpoint with the formats library.
func (c *tileClient) checkpoint(path string, v note.Verifier) *tdlog.Checkpoint {
	c.t.Helper()
	cp, _, _, err := tdlog.ParseCheckpoint(c.get(path), v.Name(), v)
	if err != nil {
		c.t.Fatalf("%s: %v", path, err)
	}
	return cp
}

func TestIndependentVerifierOverHTTPS(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	sealer, err := audit.NewDirSealer(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "ledger")
	l, err := audit.Open(ctx, dir, audit.Options{Sealer: sealer, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents := func(from, to int) {
		for i := from; i < to; i++ {
			ev := audit.Event{
				Time:     time.Date(2026, 11, 23, 12, 0, 0, i, time.UTC),
				Actor:    audit.Actor{User: []string{"alice", "bob"}[i%2]},
				Action:   "s3:GetObject",
				Resource: audit.Resource{Bucket: "b", Key: fmt.Sprintf("k/%d", i)},
				Outcome:  audit.Outcome{Result: audit.ResultAllowed},
			}
			if _, err := l.Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendEvents(0, 300)
	if err := l.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	appendEvents(300, 1000)
	pub := l.PublicKey()
	if err := l.Close(); err != nil { // publishes the checkpoint for 1000
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /ledger/", http.StripPrefix("/ledger", audit.LedgerHandler(dir)))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // dropped keep-alive connections
	srv.StartTLS()
	defer srv.Close()
	c := &tileClient{t: t, base: srv.URL + "/ledger/", client: srv.Client(), cache: map[string][]byte{}}

	v, err := note.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	latest := c.checkpoint("checkpoint", v)
	// checkpoints/1 is the empty tree of the first open.
	old := c.checkpoint("checkpoints/00000000000000000002", v)
	if latest.Size != 1000 || old.Size != 300 {
		t.Fatalf("checkpoint sizes %d and %d, want 1000 and 300", latest.Size, old.Size)
	}
	if again := c.checkpoint("checkpoints/00000000000000000003", v); string(again.Marshal()) != string(latest.Marshal()) {
		t.Fatal("the latest checkpoint is not the last of the history")
	}
	// A checkpoint under another key does not parse.
	_, otherPub, _ := note.GenerateKey(rand.Reader, "coffer/audit")
	if ov, err := note.NewVerifier(otherPub); err != nil {
		t.Fatal(err)
	} else if _, _, _, err := tdlog.ParseCheckpoint(c.get("checkpoint"), ov.Name(), ov); err == nil {
		t.Fatal("checkpoint verified under another key")
	}

	h := rfc6962.DefaultHasher
	treeOf := func(cp *tdlog.Checkpoint) tlog.Tree {
		var tr tlog.Tree
		tr.N = int64(cp.Size)
		copy(tr.Hash[:], cp.Hash)
		return tr
	}
	tiles := tlog.TileHashReader(treeOf(latest), c)

	for _, i := range []uint64{0, 1, 2, 255, 256, 299, 300, 511, 512, 767, 768, 777, 998, 999} {
		leaf := h.HashLeaf(c.entry(i, latest.Size))

		// transparency-dev/merkle: node list, hashes from the tiles.
		nodes, err := proof.Inclusion(i, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		hashes := make([][]byte, len(nodes.IDs))
		for k, id := range nodes.IDs {
			hashes[k] = c.nodeHash(id.Level, id.Index, latest.Size)
		}
		p, err := nodes.Rehash(hashes, h.HashChildren)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(h, i, latest.Size, leaf, p, latest.Hash); err != nil {
			t.Errorf("VerifyInclusion(%d): %v", i, err)
		}
		wrong := h.HashLeaf([]byte("not the entry"))
		if proof.VerifyInclusion(h, i, latest.Size, wrong, p, latest.Hash) == nil {
			t.Errorf("VerifyInclusion(%d) accepted a wrong leaf", i)
		}
		if i < old.Size {
			// The same leaf is in the old tree too.
			nodes, _ := proof.Inclusion(i, old.Size)
			hashes := make([][]byte, len(nodes.IDs))
			for k, id := range nodes.IDs {
				hashes[k] = c.nodeHash(id.Level, id.Index, old.Size)
			}
			p, _ := nodes.Rehash(hashes, h.HashChildren)
			if err := proof.VerifyInclusion(h, i, old.Size, leaf, p, old.Hash); err != nil {
				t.Errorf("VerifyInclusion(%d) in the old tree: %v", i, err)
			}
		}

		// x/mod/sumdb/tlog over the same tiles, verified against the
		// signed root as it reads them.
		rp, err := tlog.ProveRecord(int64(latest.Size), int64(i), tiles)
		if err != nil {
			t.Fatalf("ProveRecord(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(rp, int64(latest.Size), treeOf(latest).Hash, int64(i), tlog.Hash(leaf)); err != nil {
			t.Errorf("CheckRecord(%d): %v", i, err)
		}
	}

	// Consistency between the two signed checkpoints.
	nodes, err := proof.Consistency(old.Size, latest.Size)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for k, id := range nodes.IDs {
		hashes[k] = c.nodeHash(id.Level, id.Index, latest.Size)
	}
	cp, err := nodes.Rehash(hashes, h.HashChildren)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(h, old.Size, latest.Size, cp, old.Hash, latest.Hash); err != nil {
		t.Fatalf("VerifyConsistency(%d, %d): %v", old.Size, latest.Size, err)
	}
	forged := append([]byte(nil), old.Hash...)
	forged[0] ^= 1
	if proof.VerifyConsistency(h, old.Size, latest.Size, cp, forged, latest.Hash) == nil {
		t.Fatal("VerifyConsistency accepted a forged old root")
	}
	tp, err := tlog.ProveTree(int64(latest.Size), int64(old.Size), tiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(tp, int64(latest.Size), treeOf(latest).Hash, int64(old.Size), treeOf(old).Hash); err != nil {
		t.Fatalf("CheckTree: %v", err)
	}

	// The proofs used partial tiles of both trees and a level-1 tile.
	fetched := keys(c.cache)
	for _, p := range []string{"tile/0/003.p/232", "tile/entries/003.p/232", "tile/1/000.p/3", "tile/0/001.p/44", "tile/1/000.p/1"} {
		if !slices.Contains(fetched, p) {
			t.Errorf("%s was not used; fetched %v", p, fetched)
		}
	}

	// And Coffer's own remote verifier agrees.
	rep, err := audit.VerifyRemote(ctx, c.base, srv.Client(), audit.VerifyOptions{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != 1000 || rep.Checkpoints != 3 || rep.Root != treeOf(latest).Hash {
		t.Fatalf("VerifyRemote: %+v", rep)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
