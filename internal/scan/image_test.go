package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func sha(data []byte) string {
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:])
}

// testLayers are the layers of the test image, bottom first:
//
//	0: /etc/app/secret.env (the key), /usr/share/doc.txt
//	1: deletes /etc/app/secret.env (a whiteout), adds /srv/config.zip
//	   (a key inside an archive in the image)
//	2: makes /srv opaque (deletes everything below it from before)
func testLayers(t *testing.T) [][]byte {
	t.Helper()
	return [][]byte{
		tarOf(t, entry{"etc/app/secret.env", []byte("# prod\n" + awsLine)}, entry{"usr/share/doc.txt", []byte("docs\n")}),
		tarOf(t, entry{"etc/app/.wh.secret.env", nil}, entry{"srv/config.zip", zipOf(t, entry{"app.env", []byte(awsLine)})}),
		tarOf(t, entry{"srv/.wh..wh..opq", nil}, entry{"srv/new.txt", []byte("fresh\n")}),
	}
}

func zstdOf(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// writeOCILayout writes an OCI image layout to dir: layer 0 gzip, layer 1
// zstd, the others plain, behind an index of an index (as multi-platform
// images are).
func writeOCILayout(t *testing.T, dir string, layers [][]byte) []string {
	t.Helper()
	blob := func(data []byte) string {
		d := sha(data)
		writeFile(t, filepath.Join(dir, "blobs", "sha256", d[len("sha256:"):]), data)
		return d
	}
	var descs []map[string]any
	var digests []string
	for i, l := range layers {
		data, mt := l, "application/vnd.oci.image.layer.v1.tar"
		switch i {
		case 0:
			data, mt = gzipOf(t, l), mt+"+gzip"
		case 1:
			data, mt = zstdOf(t, l), mt+"+zstd"
		}
		d := blob(data)
		digests = append(digests, d)
		descs = append(descs, map[string]any{"mediaType": mt, "digest": d, "size": len(data)})
	}
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux"})
	cd := blob(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
		"layers": descs,
	})
	md := blob(manifest)
	inner, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest)},
			// A platform that was not saved: skipped, not an error.
			map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hex.EncodeToString(make([]byte, 32)), "size": 10},
		},
	})
	id := blob(inner)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests":     []any{map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": len(inner)}},
	})
	writeFile(t, filepath.Join(dir, "index.json"), index)
	writeFile(t, filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	return digests
}

// writeDockerSave writes a legacy `docker save` tarball: ID/layer.tar
// members, a config with rootfs.diff_ids, manifest.json written last.
func writeDockerSave(t *testing.T, name string, layers [][]byte) []string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	var paths, diffIDs []string
	for i, l := range layers {
		p := hex.EncodeToString([]byte{byte(i), 0xab}) + "/layer.tar"
		add(p, l)
		paths = append(paths, p)
		diffIDs = append(diffIDs, sha(l))
	}
	config, _ := json.Marshal(map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	add("cafe.json", config)
	manifest, _ := json.Marshal([]any{map[string]any{"Config": "cafe.json", "RepoTags": []string{"app:1"}, "Layers": paths}})
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, buf.Bytes())
	return diffIDs
}

func TestImages(t *testing.T) {
	layers := testLayers(t)
	dir := t.TempDir()
	ociDir := filepath.Join(dir, "oci")
	ociDigests := writeOCILayout(t, ociDir, layers)
	dockerTar := filepath.Join(dir, "app.tar")
	dockerDigests := writeDockerSave(t, dockerTar, layers)

	// An OCI layout in a tar (what docker save writes since 25).
	ociTar := filepath.Join(dir, "oci.tar")
	{
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		filepath.Walk(ociDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(ociDir, p)
			data, _ := os.ReadFile(p)
			tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
			tw.Write(data)
			return nil
		})
		tw.Close()
		writeFile(t, ociTar, buf.Bytes())
	}

	dockerTgz := filepath.Join(dir, "app.tar.gz")
	data, _ := os.ReadFile(dockerTar)
	writeFile(t, dockerTgz, gzipOf(t, data))

	tests := []struct {
		name    string
		image   string
		digests []string
	}{
		{"oci layout", ociDir, ociDigests},
		{"docker save | gzip", dockerTgz, dockerDigests},
		{"oci layout in a tar", ociTar, ociDigests},
		{"docker save", dockerTar, dockerDigests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			s := NewScanner(testEngine(t), c.options(Options{}))
			if err := s.ScanImage(context.Background(), tt.image); err != nil {
				t.Fatal(err)
			}
			got := NewReport(c.awsFindings(), s.Stats()).Findings
			want := []struct {
				path, archive, layer string
				deleted              bool
			}{
				{"/etc/app/secret.env", "", tt.digests[0], true},
				{"/srv/config.zip", "/srv/config.zip!app.env", tt.digests[1], true},
			}
			if len(got) != len(want) {
				t.Fatalf("%d findings, want %d: %+v (warnings %v)", len(got), len(want), got, c.warnings)
			}
			for i, w := range want {
				l := got[i].Location
				if l.Path != w.path || l.Archive != w.archive || l.Layer != w.layer || l.Deleted != w.deleted || l.Image != tt.image {
					t.Errorf("finding %d at %+v, want %+v", i, l, w)
				}
				if l.Line != 2 && w.archive == "" {
					t.Errorf("line %d, want 2", l.Line)
				}
			}
		})
	}
	t.Run("not an image", func(t *testing.T) {
		s := NewScanner(testEngine(t), Options{})
		if err := s.ScanImage(context.Background(), t.TempDir()); err == nil {
			t.Fatal("no error for an empty directory")
		}
	})
}

func TestDeletedBy(t *testing.T) {
	tests := []struct {
		path      string
		whiteouts []string
		want      bool
	}{
		{"/a/b", []string{"/a/b"}, true},
		{"/a/b/c", []string{"/a/b"}, true},
		{"/a/bc", []string{"/a/b"}, false},
		{"/a/b/c", []string{"/a/"}, true},
		{"/ab/c", []string{"/a/"}, false},
		{"/x", nil, false},
	}
	for _, tt := range tests {
		if got := deletedBy(tt.path, tt.whiteouts); got != tt.want {
			t.Errorf("deletedBy(%q, %q) = %v", tt.path, tt.whiteouts, got)
		}
	}
}

func TestDeletedLater(t *testing.T) {
	whiteouts := map[int][]string{1: {"/a"}, 2: {"/b"}}
	wo := func(j int) []string { return whiteouts[j] }
	// Image A is layers 0 then 1; image B is layers 2 then 0.
	stacks := [][]int{{0, 1}, {2, 0}}
	tests := []struct {
		layer int
		path  string
		want  bool
	}{
		{0, "/a", true},  // layer 1 is above 0 in image A
		{0, "/b", false}, // layer 2 is below 0 in image B
		{1, "/a", false}, // nothing above layer 1
		{2, "/b", false}, // a layer does not delete its own files
	}
	for _, tt := range tests {
		if got := deletedLater(tt.layer, tt.path, stacks, wo); got != tt.want {
			t.Errorf("deletedLater(%d, %s) = %v, want %v", tt.layer, tt.path, got, tt.want)
		}
	}
}

// TestImageLayerBounds: a layer is one top-level input for the expansion
// bounds. A compressed layer that expands past the ratio bound and a layer
// of more entries than the limit are each reported as a bomb, and the other
// layers are still scanned.
func TestImageLayerBounds(t *testing.T) {
	many := make([]entry, 20)
	for i := range many {
		many[i] = entry{fmt.Sprintf("f/%d.txt", i), []byte("x\n")}
	}
	layers := [][]byte{
		tarOf(t, entry{"zeros.bin", make([]byte, 20<<20)}), // gzip: about 1000:1
		tarOf(t, many...), // zstd
		tarOf(t, entry{"etc/app.env", []byte(awsLine)}),
	}
	dir := filepath.Join(t.TempDir(), "oci")
	digests := writeOCILayout(t, dir, layers)
	c := &collector{}
	s := NewScanner(testEngine(t), c.options(Options{MaxArchiveEntries: 10}))
	if err := s.ScanImage(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	bombs := c.ofType(bombType)
	layersHit := map[string]bool{}
	for _, b := range bombs {
		layersHit[b.Location.Layer] = true
	}
	if len(bombs) != 2 || !layersHit[digests[0]] || !layersHit[digests[1]] {
		t.Fatalf("bombs %+v, want one in each of layers %s and %s (warnings %v)", bombs, digests[0], digests[1], c.warnings)
	}
	if got := c.awsFindings(); len(got) != 1 || got[0].Location.Layer != digests[2] {
		t.Fatalf("secret findings %+v, want one in layer %s", got, digests[2])
	}
}

// TestGunzipImageBound: a gzip-compressed image tarball that expands past
// the ratio bound is refused, not written out whole to a temporary file.
func TestGunzipImageBound(t *testing.T) {
	name := filepath.Join(t.TempDir(), "bomb.tar.gz")
	writeFile(t, name, gzipOf(t, make([]byte, 20<<20))) // about 1000:1
	s := NewScanner(testEngine(t), Options{})
	err := s.ScanImage(context.Background(), name)
	if !errors.Is(err, errBomb) {
		t.Fatalf("err %v, want an archive bomb", err)
	}
}
