package vault

// Security properties, tested as attacks on the data directory.

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-vault/coffer/internal/seal"
)

// readAll reads a whole object and returns what it got and the error.
func readAll(tb testing.TB, e *env, bucket, key string, size int64) ([]byte, error) {
	tb.Helper()
	return e.readRange(tb, bucket, key, 0, size)
}

// TestAttackFlipByte flips single bytes of stored blobs (header, body, tag,
// last byte; in a single PUT and in a multipart part): every read that
// covers the damage fails with ErrIntegrity, the failure is logged with the
// object and blob, and no read ever returns a byte that differs.
func TestAttackFlipByte(t *testing.T) {
	const pkg = seal.PackageSize
	size := 3*pkg + 10
	sealedPkg := int64(pkg + 32)
	positions := []struct {
		name string
		off  int64
	}{
		{"first header", 0},
		{"first package body", 100},
		{"first package tag", sealedPkg - 1},
		{"second package header", sealedPkg + 3},
		{"second package body", sealedPkg + 5000},
		{"last byte", -1},
	}
	for _, multipart := range []bool{false, true} {
		for _, pos := range positions {
			e := newEnv(t)
			e.svc.minPartSize = 1
			b := e.bucket(t, "data")
			data := randomBytes(size, 1)
			if multipart {
				ctx := context.Background()
				id, _ := e.svc.CreateMultipartUpload(ctx, b, "k", PutOptions{})
				parts := uploadParts(t, e, b, "k", id, data, []int{100, size - 100})
				if _, err := e.svc.CompleteMultipartUpload(ctx, b, "k", id, parts); err != nil {
					t.Fatal(err)
				}
			} else {
				e.put(t, b, "k", data, PutOptions{})
			}
			segs := e.segments(t, b, "k")
			victim := segs[len(segs)-1] // the large segment
			start := int64(size) - victim.Size
			path := e.blobPath(t, victim.BlobID)
			off := pos.off
			if off < 0 {
				fi, _ := os.Stat(path)
				off = fi.Size() - 1
			}
			flipByte(t, path, off)

			damaged := start + (off/sealedPkg)*pkg // first plaintext byte of the damaged package
			for _, rg := range [][2]int64{{0, int64(size)}, {damaged, 1}, {start, int64(size) - start}, {damaged, int64(size) - damaged}} {
				got, err := e.readRange(t, b, "k", rg[0], rg[1])
				if !errors.Is(err, ErrIntegrity) {
					t.Fatalf("multipart=%v %s: range %v: err = %v, want ErrIntegrity", multipart, pos.name, rg, err)
				}
				if !bytes.Equal(got, data[rg[0]:rg[0]+int64(len(got))]) {
					t.Fatalf("multipart=%v %s: range %v returned wrong bytes before failing", multipart, pos.name, rg)
				}
			}
			logs := e.logs.String()
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, victim.BlobID) || !strings.Contains(logs, "key=k") {
				t.Fatalf("integrity failure not logged with object and blob: %s", logs)
			}
		}
	}
}

// TestAttackTruncateExtend cuts and extends a blob.
func TestAttackTruncateExtend(t *testing.T) {
	for _, change := range []string{"truncate package", "truncate byte", "append"} {
		e := newEnv(t)
		b := e.bucket(t, "data")
		data := randomBytes(2*seal.PackageSize+1, 2)
		e.put(t, b, "k", data, PutOptions{})
		path := e.blobPath(t, e.segments(t, b, "k")[0].BlobID)
		fi, _ := os.Stat(path)
		os.Chmod(path, 0o600)
		switch change {
		case "truncate package":
			os.Truncate(path, fi.Size()-(1+32))
		case "truncate byte":
			os.Truncate(path, fi.Size()-1)
		case "append":
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{0})
			f.Close()
		}
		_, err := readAll(t, e, b, "k", int64(len(data)))
		wantErr(t, change, err, ErrIntegrity)
	}
}

// TestAttackSwap swaps the blob files of two objects of the same size:
// neither opens under the other's name.
func TestAttackSwap(t *testing.T) {
	e := newEnv(t)
	b := e.bucket(t, "data")
	d1, d2 := randomBytes(5000, 1), randomBytes(5000, 2)
	e.put(t, b, "one", d1, PutOptions{})
	e.put(t, b, "two", d2, PutOptions{})
	p1 := e.blobPath(t, e.segments(t, b, "one")[0].BlobID)
	p2 := e.blobPath(t, e.segments(t, b, "two")[0].BlobID)
	tmp := p1 + ".swap"
	for _, mv := range [][2]string{{p1, tmp}, {p2, p1}, {tmp, p2}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"one", "two"} {
		got, err := readAll(t, e, b, k, 5000)
		wantErr(t, "swapped "+k, err, ErrIntegrity)
		if len(got) != 0 {
			t.Errorf("swapped %s returned %d bytes", k, len(got))
		}
	}
}

// TestAttackMetaTamper swaps sealed records and segments between objects
// through the meta store, as an attacker with write access to it could.
func TestAttackMetaTamper(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.bucket(t, "data")
	e.put(t, b, "one", []byte("first object"), PutOptions{UserMeta: map[string]string{"a": "1"}, Tags: map[string]string{"t": "1"}})
	e.put(t, b, "two", []byte("other object"), PutOptions{UserMeta: map[string]string{"a": "2"}, Tags: map[string]string{"t": "2"}})
	one, _ := e.meta.GetObject(ctx, b, "one")
	two, _ := e.meta.GetObject(ctx, b, "two")

	// Another object's sealed metadata.
	forged := one
	forged.Meta = two.Meta
	if _, err := e.meta.PutObject(ctx, forged); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.OpenObject(ctx, b, "one")
	wantErr(t, "swapped metadata", err, ErrIntegrity)

	// Another object's sealed tags: GetTags fails, reads still work.
	forged = one
	forged.Tags = two.Tags
	e.meta.PutObject(ctx, forged)
	_, err = e.svc.GetTags(ctx, b, "one")
	wantErr(t, "swapped tags", err, ErrIntegrity)

	// Another object's segment (blob and wrapped DEK together).
	forged = one
	forged.Segments = two.Segments
	forged.Segments[0].BlobID = e.copyBlob(t, two.Segments[0].BlobID)
	e.meta.PutObject(ctx, forged)
	got, err := readAll(t, e, b, "one", forged.Size)
	wantErr(t, "swapped segment", err, ErrIntegrity)
	if len(got) != 0 {
		t.Errorf("swapped segment returned %q", got)
	}
}

// copyBlob stores a byte-for-byte copy of a blob under a new id.
func (e *env) copyBlob(tb testing.TB, id string) string {
	tb.Helper()
	ctx := context.Background()
	r, err := e.svc.blobs.Open(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, r.Size())
	r.ReadAt(buf, 0)
	nid := newID()
	w, err := e.svc.blobs.Create(ctx, nid)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(buf)
	if err := w.Commit(); err != nil {
		tb.Fatal(err)
	}
	return nid
}

// TestAttackPlaintextScan writes a marker into bodies, user metadata,
// headers, checksums and tags (single PUT, multipart, copy, tags set later)
// and scans every file under the data directory, SQLite's WAL included: the
// marker never appears in plaintext. The key name may, and the scan must
// find it, which proves the scan reads the metadata files.
func TestAttackPlaintextScan(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.minPartSize = 1
	b := e.bucket(t, "data")
	const marker = "MARKER-7c2f1e9a"
	const keyName = "visible-key-name-31d4"
	body := bytes.Repeat([]byte(marker+" secret footage "), 5000)
	opts := PutOptions{
		ContentType: "text/" + marker,
		Headers:     map[string]string{"Content-Disposition": marker},
		UserMeta:    map[string]string{"note": marker},
		Tags:        map[string]string{"label": marker},
		Checksum:    "CRC32:" + marker,
	}
	e.put(t, b, keyName, body, opts)
	id, _ := e.svc.CreateMultipartUpload(ctx, b, keyName+"-mp", opts)
	parts := uploadParts(t, e, b, keyName+"-mp", id, body, []int{1000, len(body) - 1000})
	e.svc.CompleteMultipartUpload(ctx, b, keyName+"-mp", id, parts)
	id2, _ := e.svc.CreateMultipartUpload(ctx, b, keyName+"-open", opts)
	uploadParts(t, e, b, keyName+"-open", id2, body, []int{len(body)})
	e.svc.CopyObject(ctx, b, keyName, b, keyName+"-copy", CopyOptions{})
	e.svc.PutTags(ctx, b, keyName+"-copy", map[string]string{"again": marker})
	if !bytes.Equal(e.get(t, b, keyName), body) {
		t.Fatal("read back differs")
	}

	foundKey := false
	files := 0
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files++
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("marker in plaintext in %s", p)
		}
		if bytes.Contains(raw, []byte(keyName)) {
			foundKey = true
		}
		return nil
	})
	if !foundKey || files < 3 {
		t.Fatalf("scan of %d files did not find the key name: the scan does not see the metadata", files)
	}
}
