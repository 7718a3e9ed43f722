package cli

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"

	"github.com/minio/minio-go/v7"
)

// partSuffix marks a download in progress; `get` resumes from it.
const partSuffix = ".part"

// getResult is `get --json`'s output.
type getResult struct {
	Status      string `json:"status"`
	Source      string `json:"source"`
	Target      string `json:"target"`
	Size        int64  `json:"size"`
	ETag        string `json:"etag"`
	ResumedFrom int64  `json:"resumedFrom,omitempty"`
	Verified    string `json:"verified"` // "md5" or "size"
}

func (a *app) cmdGet(ctx context.Context, args []string) error {
	fs := newFlags("get", `coffer get ALIAS/BUCKET/KEY [FILE]

Download an object to FILE (default: the key's base name in the current
directory; into it if FILE is a directory; "-" for stdout). The bytes go to
FILE.part first; an interrupted download resumes from it with a Range
request. The result is checked (size, and MD5 when the ETag is one) before
it is renamed into place.`)
	pos, err := a.parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	src, err := needObject(pos[0])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	dst := path.Base(src.Key)
	if len(pos) < 2 && (dst == "." || dst == ".." || dst == "/") {
		return usagef(fs.cmd, "get: cannot name a local file after key %q: give FILE", src.Key)
	}
	if len(pos) == 2 {
		dst = pos[1]
		if st, err := os.Stat(dst); err == nil && st.IsDir() {
			dst = filepath.Join(dst, path.Base(src.Key))
		}
	}
	r, err := a.connect(src.Alias, &fs.common)
	if err != nil {
		return err
	}
	if dst == "-" {
		return a.catOne(ctx, r, src)
	}
	res, err := a.download(ctx, r, src, dst, &fs.common)
	if err != nil {
		return err
	}
	if fs.common.json {
		return a.printJSON(res)
	}
	if !fs.common.quiet {
		fmt.Fprintf(a.stdout, "%s -> %s (%s)\n", src, dst, fmtSize(res.Size))
	}
	return nil
}

// md5ETag matches an ETag that is an MD5 of the content (a single PUT).
var md5ETag = regexp.MustCompile(`^[0-9a-f]{32}$`)

// download fetches src into dst via dst.part, resuming a previous attempt.
func (a *app) download(ctx context.Context, r *remote, src remotePath, dst string, cf *commonFlags) (getResult, error) {
	res := getResult{Status: "success", Source: src.String(), Target: dst}
	info, err := r.mc.StatObject(ctx, src.Bucket, src.Key, minio.StatObjectOptions{})
	if err != nil {
		return res, opErr("get "+src.String(), src.Bucket, src.Key, err)
	}
	etag := normETag(info.ETag)
	res.Size, res.ETag = info.Size, etag
	part := dst + partSuffix
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	off := st.Size()
	if off > info.Size {
		// Not a prefix of this object: start over.
		if err := f.Truncate(0); err != nil {
			return res, fmt.Errorf("get: %w", err)
		}
		off = 0
	}
	if off > 0 {
		res.ResumedFrom = off
		a.infof(cf, "Resuming %s from %s.\n", src, fmtSize(off))
	}
	if off < info.Size {
		if err := a.fetchRange(ctx, r, src, etag, f, off, info.Size, cf); err != nil {
			return res, err
		}
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("get: %w", err)
	}

	// Verify before renaming into place.
	st, err = f.Stat()
	if err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	if st.Size() != info.Size {
		return res, fmt.Errorf("get %s: downloaded %d bytes, the object has %d; run get again to resume", src, st.Size(), info.Size)
	}
	res.Verified = "size"
	if md5ETag.MatchString(etag) {
		h := md5.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
			return res, fmt.Errorf("get: verify %s: %w", part, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != etag {
			f.Close()
			os.Remove(part)
			return res, fmt.Errorf("get %s: the downloaded bytes do not match the object's ETag (MD5 %s, want %s); removed %s, run get again", src, got, etag, part)
		}
		res.Verified = "md5"
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	if err := os.Rename(part, dst); err != nil {
		return res, fmt.Errorf("get: %w", err)
	}
	syncDir(filepath.Dir(dst))
	return res, nil
}

// fetchRange appends the object's bytes [off, size) to f. The request is
// conditional on etag, so a concurrent overwrite cannot splice two versions.
func (a *app) fetchRange(ctx context.Context, r *remote, src remotePath, etag string, f *os.File, off, size int64, cf *commonFlags) error {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(etag); err != nil {
		return err
	}
	if off > 0 {
		if err := opts.SetRange(off, 0); err != nil {
			return err
		}
	}
	body, _, _, err := r.core.GetObject(ctx, src.Bucket, src.Key, opts)
	if err != nil {
		return opErr("get "+src.String(), src.Bucket, src.Key, err)
	}
	defer body.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	bar := a.newProgress(cf, size, path.Base(src.Key))
	bar.Set(off)
	_, err = io.Copy(f, io.TeeReader(body, progressWriter{bar}))
	if err != nil {
		bar.Abort()
		_ = f.Sync()
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			a.infof(cf, "coffer: kept %s; run the same get again to resume\n", f.Name())
		}
		return fmt.Errorf("get %s: %w", src, err)
	}
	bar.Finish()
	return nil
}

// progressWriter adapts a possibly nil *progress to io.Writer.
type progressWriter struct{ p *progress }

func (w progressWriter) Write(b []byte) (int, error) { return w.p.Write(b) }

func (a *app) cmdCat(ctx context.Context, args []string) error {
	fs := newFlags("cat", `coffer cat ALIAS/BUCKET/KEY...

Write objects to stdout, one after another.`)
	pos, err := a.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	var srcs []remotePath
	for _, s := range pos {
		p, err := needObject(s)
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		srcs = append(srcs, p)
	}
	for _, p := range srcs {
		r, err := a.connect(p.Alias, &fs.common)
		if err != nil {
			return err
		}
		if err := a.catOne(ctx, r, p); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) catOne(ctx context.Context, r *remote, p remotePath) error {
	body, _, _, err := r.core.GetObject(ctx, p.Bucket, p.Key, minio.GetObjectOptions{})
	if err != nil {
		return opErr("cat "+p.String(), p.Bucket, p.Key, err)
	}
	defer body.Close()
	if _, err := io.Copy(a.stdout, body); err != nil {
		return fmt.Errorf("cat %s: %w", p, err)
	}
	return nil
}
