package scan

// Container images: `docker save` tarballs and OCI image layouts.
//
// Every layer of every image is scanned, not the merged file system: a
// file deleted in a later layer (by a whiteout, ".wh.NAME", or an opaque
// directory, ".wh..wh..opq") is still in the image, and anyone who pulls
// it can read it. Findings name the image, the layer digest and the path
// in the image; a finding in a file that a later layer deletes says so.
//
// Formats read:
//   - docker save (legacy): manifest.json lists "Layers" as "ID/layer.tar",
//     the config's rootfs.diff_ids give their digests;
//   - docker save (25+) and OCI layouts (a directory or a tar of one):
//     index.json -> manifests (or indexes, recursively) -> layers in
//     blobs/sha256/HEX, plain tar, gzip or zstd.

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// maxImageJSON bounds manifest, index and config documents.
const maxImageJSON = 16 << 20

// blobStore opens the files of an image tarball or layout by name.
type blobStore interface {
	open(name string) (io.ReadCloser, error)
	exists(name string) bool
}

// dirStore is an OCI layout directory.
type dirStore struct{ root string }

func (d dirStore) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.root, filepath.FromSlash(cleanPath(name))))
}

func (d dirStore) exists(name string) bool {
	_, err := os.Stat(filepath.Join(d.root, filepath.FromSlash(cleanPath(name))))
	return err == nil
}

// tarStore is an image tarball, indexed once so that members can be read
// in any order (docker save writes manifest.json last).
type tarStore struct {
	f       *os.File
	members map[string]tarMember
}

type tarMember struct{ off, size int64 }

func openTarStore(name string) (*tarStore, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	cr := &countReader{r: f}
	tr := tar.NewReader(cr)
	ts := &tarStore{f: f, members: map[string]tarMember{}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read image tarball %s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			// archive/tar reads headers in whole blocks and nothing more,
			// so the count is where the member's data starts.
			ts.members[cleanPath(hdr.Name)] = tarMember{off: cr.n, size: hdr.Size}
		}
	}
	return ts, nil
}

func (t *tarStore) open(name string) (io.ReadCloser, error) {
	m, ok := t.members[cleanPath(name)]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.off, m.size)), nil
}

func (t *tarStore) exists(name string) bool {
	_, ok := t.members[cleanPath(name)]
	return ok
}

func (t *tarStore) Close() error { return t.f.Close() }

// gunzipImage returns name, or when name is gzip-compressed (docker save
// | gzip), a temporary file holding it uncompressed: a tarball must be read
// at random. The file is held to the ratio bound (ratio:1 of the
// compressed bytes), like any gzip stream, so a bomb cannot fill the disk.
func gunzipImage(name string, ratio int64) (string, func(), error) {
	f, err := os.Open(name)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	cr := &countReader{r: f}
	br := bufio.NewReader(cr)
	if head, _ := br.Peek(2); len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b {
		return name, func() {}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", name, err)
	}
	tmp, err := os.CreateTemp("", "coffer-scan-image-*.tar")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	_, err = io.Copy(tmp, ratioReader(zr, cr, ratio))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("gunzip %s: %w", name, err)
	}
	return tmp.Name(), cleanup, nil
}

// imageLayer is one layer to scan.
type imageLayer struct {
	blob   string // member or file holding the layer
	digest string // sha256:...
}

// ScanImage scans every layer of a docker-save tarball or an OCI image
// layout (a directory, or a tar of one).
func (s *Scanner) ScanImage(ctx context.Context, name string) error {
	info, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("scan image: %w", err)
	}
	var store blobStore
	if info.IsDir() {
		store = dirStore{root: name}
	} else {
		tarName, cleanup, err := gunzipImage(name, s.opt.MaxArchiveRatio)
		if err != nil {
			return fmt.Errorf("scan image: %w", err)
		}
		defer cleanup()
		ts, err := openTarStore(tarName)
		if err != nil {
			return fmt.Errorf("scan image: %w", err)
		}
		defer ts.Close()
		store = ts
	}
	layers, stacks, err := imageLayers(store)
	if err != nil {
		return fmt.Errorf("scan image %s: %w", name, err)
	}
	if len(layers) == 0 {
		return fmt.Errorf("scan image %s: no layers found (neither a docker-save tarball nor an OCI layout)", name)
	}

	// Layers are scanned in parallel; whiteouts are gathered per layer and
	// findings held back until every layer is read, so that a finding in a
	// file deleted later can say so.
	type layerResult struct {
		findings  []Finding
		whiteouts []string // deleted paths ("/dir/" for opaque dirs)
	}
	results := make([]layerResult, len(layers))
	sem := make(chan struct{}, s.opt.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, l := range layers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			wo, err := s.scanLayer(ctx, store, name, l, func(f Finding) {
				results[i].findings = append(results[i].findings, f)
			})
			results[i].whiteouts = wo
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for i := range results {
		for _, f := range results[i].findings {
			if deletedLater(i, findingPath(f), stacks, func(j int) []string { return results[j].whiteouts }) {
				markDeleted(&f)
			}
			s.emit(f)
		}
	}
	return nil
}

// deletedLater reports whether, in some image, a layer above layer i
// deletes p.
func deletedLater(i int, p string, stacks [][]int, whiteouts func(layer int) []string) bool {
	for _, stack := range stacks {
		above := false
		for _, j := range stack {
			if above && deletedBy(p, whiteouts(j)) {
				return true
			}
			above = above || j == i
		}
	}
	return false
}

// scanLayer scans every file of one layer, sending its findings to
// onFinding (from this goroutine only), and returns the paths the layer
// deletes.
func (s *Scanner) scanLayer(ctx context.Context, store blobStore, image string, l imageLayer, onFinding func(Finding)) ([]string, error) {
	rc, err := store.open(l.blob)
	if err != nil {
		s.warnf("%s: layer %s: %v", image, l.digest, err)
		return nil, nil
	}
	defer rc.Close()
	cr := &countReader{r: rc}
	br := bufio.NewReaderSize(cr, 64<<10)
	head, _ := br.Peek(512)
	var r io.Reader = br
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			s.warnf("%s: layer %s: %v", image, l.digest, err)
			return nil, nil
		}
		defer zr.Close()
		r = zr
	case len(head) >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			s.warnf("%s: layer %s: %v", image, l.digest, err)
			return nil, nil
		}
		defer zr.Close()
		r = zr
	}
	if r != io.Reader(br) {
		// A compressed layer is held to the ratio bound like any gzip
		// stream; its own size is not charged to the byte budget (layers
		// of several GiB are common), what is expanded inside it is.
		r = ratioReader(r, cr, s.opt.MaxArchiveRatio)
	}
	// The expansion bounds are per layer, as for one file on disk.
	b := &budget{bytes: s.opt.MaxArchiveBytes, entries: s.opt.MaxArchiveEntries}
	layer := origin{path: "/", image: image, layer: l.digest}
	// A view of s that reports into this layer's list; it shares the
	// engine, buffers and counters.
	sub := &Scanner{engine: s.engine, opt: s.opt, parent: s}
	sub.opt.OnFinding = onFinding
	sub.bufs.New = s.bufs.New

	var whiteouts []string
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return whiteouts, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		var be *bombError
		if errors.As(err, &be) {
			if !be.reported { // else a file of the layer has reported it
				be.reported = true
				sub.bomb(layer, be.reason)
			}
			break
		}
		if err != nil {
			s.warnf("%s: layer %s: %v", image, l.digest, err)
			break
		}
		if b.entries--; b.entries < 0 {
			sub.bomb(layer, "more entries than the archive entry limit")
			break
		}
		p := "/" + cleanPath(hdr.Name)
		dir, base := path.Split(p)
		if strings.HasPrefix(base, ".wh.") {
			if base == ".wh..wh..opq" {
				whiteouts = append(whiteouts, dir)
			} else {
				whiteouts = append(whiteouts, dir+strings.TrimPrefix(base, ".wh."))
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		o := origin{path: p, image: image, layer: l.digest}
		if err := sub.scanContent(ctx, tr, nil, hdr.Size, o, 0, b); err != nil {
			if ctx.Err() != nil {
				return whiteouts, ctx.Err()
			}
			break // the layer's budget is spent (reported as a bomb)
		}
	}
	return whiteouts, nil
}

// deletedBy reports whether a whiteout removes p: the file itself, a
// directory above it, or an opaque directory above it ("/dir/").
func deletedBy(p string, whiteouts []string) bool {
	for _, w := range whiteouts {
		if strings.HasSuffix(w, "/") {
			if strings.HasPrefix(p, w) {
				return true
			}
			continue
		}
		if p == w || strings.HasPrefix(p, w+"/") {
			return true
		}
	}
	return false
}

// imageLayers lists the layers of every image in store, each once, and
// for each image (manifest) the indexes of its layers, bottom first.
func imageLayers(store blobStore) ([]imageLayer, [][]int, error) {
	var (
		layers []imageLayer
		stacks [][]int
	)
	index := map[string]int{}
	addImage := func(ls []imageLayer) {
		var stack []int
		for _, l := range ls {
			i, ok := index[l.blob]
			if !ok {
				i = len(layers)
				index[l.blob] = i
				layers = append(layers, l)
			}
			stack = append(stack, i)
		}
		stacks = append(stacks, stack)
	}
	switch {
	case store.exists("manifest.json"):
		var manifest []struct {
			Config string
			Layers []string
		}
		if err := readJSON(store, "manifest.json", &manifest); err != nil {
			return nil, nil, err
		}
		for _, m := range manifest {
			var config struct {
				RootFS struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
			}
			if m.Config != "" {
				_ = readJSON(store, m.Config, &config) // digests fall back below
			}
			var ls []imageLayer
			for i, blob := range m.Layers {
				digest := blobDigest(blob)
				if digest == "" && i < len(config.RootFS.DiffIDs) {
					digest = config.RootFS.DiffIDs[i]
				}
				if digest == "" {
					d, err := hashBlob(store, blob)
					if err != nil {
						return nil, nil, err
					}
					digest = d
				}
				ls = append(ls, imageLayer{blob: blob, digest: digest})
			}
			addImage(ls)
		}
	case store.exists("index.json"):
		if err := ociLayers(store, "index.json", 0, addImage); err != nil {
			return nil, nil, err
		}
	}
	return layers, stacks, nil
}

// ociDescriptor is an OCI content descriptor.
type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// ociLayers walks an index or manifest document and adds the layers of
// each image manifest it reaches.
func ociLayers(store blobStore, name string, depth int, addImage func([]imageLayer)) error {
	if depth > 8 {
		return fmt.Errorf("%s: indexes nested too deep", name)
	}
	var doc struct {
		Manifests []ociDescriptor `json:"manifests"`
		Layers    []ociDescriptor `json:"layers"`
	}
	if err := readJSON(store, name, &doc); err != nil {
		return err
	}
	if len(doc.Layers) > 0 {
		var ls []imageLayer
		for _, l := range doc.Layers {
			blob, err := digestBlob(l.Digest)
			if err != nil {
				return err
			}
			ls = append(ls, imageLayer{blob: blob, digest: l.Digest})
		}
		addImage(ls)
	}
	for _, m := range doc.Manifests {
		blob, err := digestBlob(m.Digest)
		if err != nil {
			return err
		}
		if !store.exists(blob) {
			continue // a platform not saved with the image
		}
		if err := ociLayers(store, blob, depth+1, addImage); err != nil {
			return err
		}
	}
	return nil
}

// digestBlob is the blob path of a digest ("sha256:HEX" -> blobs/sha256/HEX).
func digestBlob(digest string) (string, error) {
	alg, hexPart, ok := strings.Cut(digest, ":")
	if !ok || alg == "" || hexPart == "" || strings.ContainsAny(digest, "/\\.") {
		return "", fmt.Errorf("bad digest %q", digest)
	}
	return "blobs/" + alg + "/" + hexPart, nil
}

// blobDigest is the digest of a blob path (blobs/sha256/HEX -> sha256:HEX),
// or "" when the path does not name one.
func blobDigest(blob string) string {
	parts := strings.Split(cleanPath(blob), "/")
	if len(parts) == 3 && parts[0] == "blobs" {
		return parts[1] + ":" + parts[2]
	}
	return ""
}

// hashBlob computes the sha256 digest of a blob.
func hashBlob(store blobStore, name string) (string, error) {
	rc, err := store.open(name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("hash %s: %w", name, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func readJSON(store blobStore, name string, v any) error {
	rc, err := store.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := readAllMax(rc, maxImageJSON)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}
