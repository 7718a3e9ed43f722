package audit

// Remote verification. VerifyRemote checks a ledger published by
// LedgerHandler (or mirrored to any static host) from the outside, with
// nothing but the log's public key: it reads the checkpoint history and
// the latest checkpoint, then every entry bundle up to the largest
// checkpoint, and runs the same checks as Verify (checkCheckpoints and
// verifyTree are shared): every signature, no fork or rollback, each
// checkpoint's root recomputed from the entries (which implies
// consistency between consecutive checkpoints), and every published hash
// tile, full and partial, equal to the recomputed one. Payloads are
// private, so they cannot be checked from outside.
//
// The history has no index: checkpoints/<seq> are numbered 1, 2, ...
// without gaps, so the last one is found by probing (doubling, then
// bisecting), which takes about 2·log2(count) requests. Every download is
// bounded by the exact size of what it fetches.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// fetchWindow bounds the requests VerifyRemote has in flight.
const fetchWindow = 8

// RemoteReport summarises a successful VerifyRemote.
type RemoteReport struct {
	VerifyReport
	// URL is the base URL the ledger was read from.
	URL string
	// PayloadsSkipped is always true: payloads are private to the
	// ledger's host, so PayloadsChecked is 0. Verify on the host, with a
	// Sealer, checks them.
	PayloadsSkipped bool
	// Requests and BytesFetched count the HTTP requests made and the
	// response bytes read.
	Requests     int64
	BytesFetched int64
}

// VerifyRemote verifies the ledger published at baseURL (the URL of the
// directory holding checkpoint, checkpoints/ and tile/, such as
// "https://host/ledger/") like Verify, over HTTP(S) with client. Up to
// 8 requests are in flight: a client for HTTP/1.1 should keep as many
// idle connections per host (http.Transport.MaxIdleConnsPerHost; the
// default is 2) or it opens a new connection for most requests. If client
// is nil, VerifyRemote uses such a client with the default transport
// settings. opts.PublicKey is required: a key fetched
// from the server being verified would prove nothing. opts.Sealer is
// ignored. Witness cosignatures are checked on the published checkpoint,
// the only ones served: with opts.WitnessQuorum, it must meet the quorum
// itself. The first problem is returned as a *VerifyError naming the
// first bad index and the file (relative to baseURL); a transport error
// or an unexpected HTTP status is returned as is.
func VerifyRemote(ctx context.Context, baseURL string, client *http.Client, opts VerifyOptions) (*RemoteReport, error) {
	if opts.PublicKey == "" {
		return nil, errors.New("audit: verify remote: the log's public key is required")
	}
	if _, err := note.NewVerifier(opts.PublicKey); err != nil {
		return nil, fmt.Errorf("audit: verify remote: public key: %w", err)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("audit: verify remote: %q is not an http(s) URL", baseURL)
	}
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = fetchWindow
		client = &http.Client{Transport: t}
		defer t.CloseIdleConnections()
	}
	src := &httpSource{
		base:   strings.TrimSuffix(u.String(), "/") + "/",
		vkey:   opts.PublicKey,
		client: client,
		cache:  make(map[tlog.Tile]fetchedTile),
	}
	rep := &RemoteReport{URL: src.base, PayloadsSkipped: true}
	defer func() {
		rep.Requests, rep.BytesFetched = src.requests.Load(), src.bytes.Load()
	}()

	hist, latest, pub, err := src.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	cps, err := checkCheckpoints(hist, latest, opts.PublicKey)
	if err != nil {
		return nil, err
	}
	seq := seqOf(hist, pub)
	if seq == 0 {
		return nil, verr(-1, "checkpoint", "published checkpoint is not in checkpoints/")
	}
	if err := verifyPublishedCosignatures(hist[seq-1].data, pub, historyName(seq), opts.PublicKey, opts, &rep.VerifyReport); err != nil {
		return nil, err
	}
	rep.Checkpoints = len(cps)
	for _, c := range cps {
		rep.LatestSize = max(rep.LatestSize, c.c.Tree.N)
	}
	src.size = rep.LatestSize
	if err := verifyTree(ctx, src, cps, &rep.VerifyReport, true); err != nil {
		return nil, err
	}
	return rep, nil
}

// httpSource is a treeSource over a tlog-tiles server. It reads the
// entries of the tree of the given size.
type httpSource struct {
	base   string // ends in "/"
	vkey   string // the log's verifier key
	client *http.Client
	size   int64

	// cache holds tiles fetched ahead of their check: each entry bundle
	// (which is what the entries were read from) and the level-0 hash
	// tile beside it. Only the goroutine running verifyTree uses it.
	cache map[tlog.Tile]fetchedTile

	requests, bytes atomic.Int64
}

type fetchedTile struct {
	data []byte
	err  error
}

// get fetches p (relative to the base URL), at most max bytes. A 404 is
// an error wrapping fs.ErrNotExist; a longer body is a *VerifyError at
// index (or -1).
func (s *httpSource) get(ctx context.Context, p string, max, index int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+p, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: fetch %s: %w", p, err)
	}
	req.Header.Set("User-Agent", "coffer-audit-verify")
	s.requests.Add(1)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("audit: fetch %s: %w", p, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("audit: fetch %s: %w", p, fs.ErrNotExist)
	default:
		return nil, fmt.Errorf("audit: fetch %s: %s", p, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	s.bytes.Add(int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: fetch %s: %w", p, err)
	}
	if int64(len(b)) > max {
		return nil, verr(index, p, "larger than %d bytes", max)
	}
	return b, nil
}

// fetchTile fetches tile t. A partial tile that is gone (a log may delete
// it once the full tile exists) is cut from the full one.
func (s *httpSource) fetchTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	size := tileSize(t)
	b, err := s.get(ctx, tilePath(t), size, tileStart(t))
	if errors.Is(err, fs.ErrNotExist) && t.W < tileWidth {
		full := t
		full.W = tileWidth
		b, err = s.get(ctx, tilePath(full), tileSize(full), tileStart(t))
		if err == nil {
			b = b[:min(int64(len(b)), size)]
		}
	}
	return b, err
}

func (s *httpSource) readTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	if f, ok := s.cache[t]; ok {
		delete(s.cache, t)
		return f.data, f.err
	}
	return s.fetchTile(ctx, t)
}

// A bundle is entry bundle k and the level-0 hash tile beside it.
type bundle struct {
	entries, hashes tlog.Tile
	data            fetchedTile
	hashData        fetchedTile
}

func (s *httpSource) forEachEntry(ctx context.Context, fn func(n int64, entry []byte, path string) error) error {
	count := (s.size + tileWidth - 1) / tileWidth
	return fetchOrdered(ctx, count, func(ctx context.Context, k int64) bundle {
		w := int(min(s.size-k*tileWidth, tileWidth))
		b := bundle{
			entries: tlog.Tile{H: tileHeight, L: -1, N: k, W: w},
			hashes:  tlog.Tile{H: tileHeight, L: 0, N: k, W: w},
		}
		b.data.data, b.data.err = s.fetchTile(ctx, b.entries)
		b.hashData.data, b.hashData.err = s.fetchTile(ctx, b.hashes)
		return b
	}, func(k int64, b bundle) error {
		p := tilePath(b.entries)
		first := k * tileWidth
		if errors.Is(b.data.err, fs.ErrNotExist) {
			return verr(first, p, "entry bundle missing")
		}
		if b.data.err != nil {
			return b.data.err
		}
		// The bundle is checked as the entries' source; verifyTree asks
		// for both tiles once the entries are added.
		s.cache[b.entries] = b.data
		s.cache[b.hashes] = b.hashData
		data, off := b.data.data, 0
		for i := range b.entries.W {
			n := first + int64(i)
			if off+2 > len(data) {
				return verr(n, p, "entry bundle ends after %d entries, want %d", i, b.entries.W)
			}
			l := int(binary.BigEndian.Uint16(data[off:]))
			if l != entrySize || off+2+l > len(data) {
				return verr(n, p, "malformed entry (length %d, want %d)", l, entrySize)
			}
			if err := fn(n, data[off+2:off+2+l], p); err != nil {
				return err
			}
			off += 2 + l
		}
		if off != len(data) {
			return verr(first+int64(b.entries.W), p, "entry bundle holds more than %d entries", b.entries.W)
		}
		return nil
	})
}

// checkpoints reads the checkpoint history, then the latest checkpoint.
//
// The log writes checkpoints/<seq> before checkpoint, so when checkpoint
// is read after the history was found to end at n, an honest log
// publishes checkpoint n-1 (it is between its two writes), n, or a newer
// one (which a further probe finds in the history). Checkpoint n-1 is
// read again a few times, shortly after; anything older, or not in the
// history, is handed on for checkCheckpoints to report. When the latest
// checkpoint is accepted, the returned latest is the last of the history.
// The third result is the published checkpoint as read, with its
// cosignatures.
func (s *httpSource) checkpoints(ctx context.Context) ([]storedCheckpoint, []byte, []byte, error) {
	probed := make(map[int64][]byte)
	exists := func(seq int64) (bool, error) {
		if _, ok := probed[seq]; ok {
			return true, nil
		}
		b, err := s.get(ctx, historyName(seq), maxCheckpointSize, -1)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		probed[seq] = b
		return true, nil
	}
	n, err := lastSeq(0, exists)
	if err != nil {
		return nil, nil, nil, err
	}
	if n == 0 {
		return nil, nil, nil, verr(-1, historyName(1), "no checkpoint history published")
	}
	// Only the log can make its history long: check the first and last
	// checkpoints before fetching the rest (a server that answers every
	// name would otherwise have the verifier fetch forever).
	for _, seq := range []int64{1, n} {
		if _, err := OpenCheckpoint(probed[seq], s.vkey); err != nil {
			return nil, nil, nil, verr(-1, historyName(seq), "checkpoint does not verify: %v", err)
		}
	}
	hist, err := s.history(ctx, nil, n, probed)
	if err != nil {
		return nil, nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		latest, err := s.get(ctx, "checkpoint", maxCheckpointSize, -1)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, verr(-1, "checkpoint", "no checkpoint published")
		}
		if err != nil {
			return nil, nil, nil, err
		}
		seq := seqOf(hist, latest)
		if seq == 0 {
			// Issued after the history was read, or not in it at all.
			m, err := lastSeq(int64(len(hist)), exists)
			if err != nil {
				return nil, nil, nil, err
			}
			if hist, err = s.history(ctx, hist, m, probed); err != nil {
				return nil, nil, nil, err
			}
			seq = seqOf(hist, latest)
		}
		switch {
		case seq >= n:
			return hist, hist[len(hist)-1].data, latest, nil
		case seq != n-1 || attempt == 4:
			return hist, latest, latest, nil
		}
		t := time.NewTimer(5 * time.Millisecond << (2 * attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil, nil, ctx.Err()
		}
	}
}

// history appends checkpoints len(hist)+1..upto to hist.
func (s *httpSource) history(ctx context.Context, hist []storedCheckpoint, upto int64, probed map[int64][]byte) ([]storedCheckpoint, error) {
	from := int64(len(hist)) + 1
	err := fetchOrdered(ctx, upto-from+1, func(ctx context.Context, i int64) fetchedTile {
		if b, ok := probed[from+i]; ok {
			return fetchedTile{data: b}
		}
		b, err := s.get(ctx, historyName(from+i), maxCheckpointSize, -1)
		return fetchedTile{b, err}
	}, func(i int64, f fetchedTile) error {
		seq := from + i
		if errors.Is(f.err, fs.ErrNotExist) {
			return verr(-1, historyName(seq), "checkpoint missing from the history (checkpoint %d exists)", upto)
		}
		if f.err != nil {
			return f.err
		}
		hist = append(hist, storedCheckpoint{name: historyName(seq), seq: seq, data: f.data})
		return nil
	})
	return hist, err
}

// seqOf returns the sequence number of the checkpoint in hist that the
// published checkpoint msg is (followed by any cosignature lines), or 0.
func seqOf(hist []storedCheckpoint, msg []byte) int64 {
	for i := len(hist) - 1; i >= 0; i-- {
		if bytes.HasPrefix(msg, hist[i].data) {
			return hist[i].seq
		}
	}
	return 0
}

func historyName(seq int64) string { return "checkpoints/" + segmentName(seq) }

// lastSeq returns the largest seq for which exists is true, given that it
// is true for from (unless from is 0) and for every seq before the
// largest: it doubles its step until it misses, then bisects.
func lastSeq(from int64, exists func(int64) (bool, error)) (int64, error) {
	lo := from
	if lo == 0 {
		ok, err := exists(1)
		if err != nil || !ok {
			return 0, err
		}
		lo = 1
	}
	// step doubles up to the largest sequence number, never past it: a
	// server that has every name must not make the probes wrap around.
	for step := int64(1); ; step = min(step, math.MaxInt64/2) * 2 {
		if lo == math.MaxInt64 {
			return lo, nil
		}
		hi := lo + min(step, math.MaxInt64-lo)
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			return bisect(lo, hi, exists)
		}
		lo = hi
	}
}

// bisect returns the largest seq in [lo, hi) for which exists is true,
// given that it is for lo and not for hi.
func bisect(lo, hi int64, exists func(int64) (bool, error)) (int64, error) {
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// fetchOrdered calls fetch(0..count-1) with up to fetchWindow calls in
// flight and hands the results to use in order. It stops at the first
// error use returns.
func fetchOrdered[T any](ctx context.Context, count int64, fetch func(context.Context, int64) T, use func(int64, T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan chan T, fetchWindow-1)
	go func() {
		defer close(queue)
		for i := range count {
			ch := make(chan T, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func() { ch <- fetch(ctx, i) }()
		}
	}()
	var i int64
	for ch := range queue {
		var v T
		select {
		case v = <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := use(i, v); err != nil {
			return err
		}
		i++
	}
	return ctx.Err()
}
