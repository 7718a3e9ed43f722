package cli

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7"
)

// Multipart limits (S3's).
const (
	defaultPartSize = 16 << 20
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	maxParts        = 10000
)

// putOptions are the flags of one `put`.
type putOptions struct {
	partSize    int64
	parallel    int
	contentType string
	common      *commonFlags
}

// putJob is one local file to upload.
type putJob struct {
	local string // path, or "-" for stdin
	key   string
	size  int64
}

// putResult is one line of `put --json`.
type putResult struct {
	Status      string `json:"status"`
	Source      string `json:"source"`
	Target      string `json:"target"`
	Size        int64  `json:"size"`
	ETag        string `json:"etag,omitempty"`
	Multipart   bool   `json:"multipart,omitempty"`
	PartsReused int    `json:"partsReused,omitempty"`
}

func (a *app) cmdPut(ctx context.Context, args []string) error {
	fs := newFlags("put", `coffer put [FLAGS] FILE... ALIAS/BUCKET[/KEY or PREFIX/]
       coffer put -r DIR ALIAS/BUCKET[/PREFIX]

Upload files. One FILE to ALIAS/BUCKET/KEY is stored as KEY; to a bucket or a
PREFIX/ ending in "/" (or with several FILEs) each file keeps its base name.
With -r, every file under DIR is stored under PREFIX with its path relative
to DIR. FILE "-" reads stdin (KEY required).

Files of at least --part-size go up as a parallel multipart upload. If an
earlier put of the same key was interrupted, its uploaded parts are checked
against the local file's bytes (MD5) and only missing or different parts are
sent again.`)
	var recursive bool
	partSize := "16MiB"
	o := putOptions{common: &fs.common}
	fs.boolFlag(&recursive, "upload directories recursively", "r", "recursive")
	fs.StringVar(&partSize, "part-size", partSize, "multipart part size (5MiB to 5GiB)")
	fs.IntVar(&o.parallel, "parallel", 4, "parts uploaded at once")
	fs.StringVar(&o.contentType, "content-type", "", "Content-Type to store (default: guessed from the file name)")
	pos, err := a.parse(fs, args, 2, -1)
	if err != nil {
		return err
	}
	ps, err := humanize.ParseBytes(partSize)
	if err != nil || ps < minPartSize || ps > maxPartSize {
		return usagef(fs.cmd, "put: --part-size %q: want a size from 5MiB to 5GiB", partSize)
	}
	o.partSize = int64(ps)
	if o.parallel < 1 || o.parallel > 64 {
		return usagef(fs.cmd, "put: --parallel must be from 1 to 64")
	}
	target, err := parseRemote(pos[len(pos)-1])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	if target.Bucket == "" {
		return usagef(fs.cmd, "put: target %q names no bucket: want ALIAS/BUCKET[/KEY]", target)
	}
	jobs, err := planPut(pos[:len(pos)-1], target, recursive)
	if err != nil {
		return err
	}
	r, err := a.connect(target.Alias, &fs.common)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		res, err := a.putOne(ctx, r, target.Bucket, j, o)
		if err != nil {
			return err
		}
		if fs.common.json {
			if err := a.printJSON(res); err != nil {
				return err
			}
		} else if !fs.common.quiet {
			fmt.Fprintf(a.stdout, "%s -> %s (%s)\n", j.local, res.Target, fmtSize(res.Size))
		}
	}
	return nil
}

// planPut turns put's sources into uploads. It fails (usage) for
// directories without -r and for unreadable sources.
func planPut(sources []string, target remotePath, recursive bool) ([]putJob, error) {
	asPrefix := len(sources) > 1
	var jobs []putJob
	for _, src := range sources {
		if src == "-" {
			if len(sources) > 1 || target.Key == "" || strings.HasSuffix(target.Key, "/") {
				return nil, usagef("put", "put: stdin (-) must be the only source and the target must name a KEY")
			}
			jobs = append(jobs, putJob{local: "-", key: target.Key, size: -1})
			continue
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("put: %w", err)
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("put: %s is not a regular file", src)
			}
			jobs = append(jobs, putJob{local: src, key: putTargetKey(target, src, asPrefix), size: st.Size()})
			continue
		}
		if !recursive {
			return nil, usagef("put", "put: %s is a directory (use -r)", src)
		}
		err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			info, err := os.Stat(path) // follows symlinks to files
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(src, path)
			if err != nil {
				return err
			}
			jobs = append(jobs, putJob{local: path, key: joinKey(target.Key, filepath.ToSlash(rel)), size: info.Size()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("put: %w", err)
		}
	}
	return jobs, nil
}

// putOne uploads one job.
func (a *app) putOne(ctx context.Context, r *remote, bucket string, j putJob, o putOptions) (putResult, error) {
	res := putResult{Status: "success", Source: j.local, Target: r.name + "/" + bucket + "/" + j.key, Size: j.size}
	contentType := o.contentType
	if contentType == "" && j.local != "-" {
		contentType = mime.TypeByExtension(filepath.Ext(j.local))
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if j.local == "-" {
		info, err := r.mc.PutObject(ctx, bucket, j.key, a.stdin, -1, minio.PutObjectOptions{ContentType: contentType, PartSize: uint64(o.partSize), NumThreads: uint(o.parallel)})
		if err != nil {
			return res, opErr("upload stdin to "+res.Target, bucket, j.key, err)
		}
		res.Size, res.ETag = info.Size, info.ETag
		return res, nil
	}
	f, err := os.Open(j.local)
	if err != nil {
		return res, fmt.Errorf("put: %w", err)
	}
	defer f.Close()

	bar := a.newProgress(o.common, j.size, j.key)
	if j.size < o.partSize {
		sum, err := md5Range(f, 0, j.size)
		if err != nil {
			return res, fmt.Errorf("read %s: %w", j.local, err)
		}
		opts := minio.PutObjectOptions{ContentType: contentType}
		if bar != nil {
			opts.Progress = bar
		}
		info, err := r.core.PutObject(ctx, bucket, j.key, io.NewSectionReader(f, 0, j.size), j.size,
			base64.StdEncoding.EncodeToString(sum), "", opts)
		if err != nil {
			bar.Abort()
			return res, opErr("upload "+j.local, bucket, j.key, err)
		}
		bar.Finish()
		res.ETag = info.ETag
		return res, nil
	}
	etag, reused, err := a.putMultipart(ctx, r, bucket, j.key, f, j.size, contentType, o, bar)
	if err != nil {
		bar.Abort()
		if ctx.Err() != nil {
			a.infof(o.common, "coffer: the upload can be resumed: run the same put again\n")
		}
		return res, opErr("upload "+j.local, bucket, j.key, err)
	}
	bar.Finish()
	res.ETag, res.Multipart, res.PartsReused = etag, true, reused
	return res, nil
}

// md5Range returns the MD5 of f's bytes [off, off+n).
func md5Range(f io.ReaderAt, off, n int64) ([]byte, error) {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// normETag strips quotes and case from an ETag.
func normETag(s string) string {
	return strings.ToLower(strings.Trim(s, `"`))
}

// findUpload returns the newest unfinished multipart upload of key and its
// parts, or "" when there is none (or the server cannot list uploads).
func findUpload(ctx context.Context, core *minio.Core, bucket, key string) (string, map[int]minio.ObjectPart, error) {
	var best minio.ObjectMultipartInfo
	keyMarker, idMarker := "", ""
	for {
		res, err := core.ListMultipartUploads(ctx, bucket, key, keyMarker, idMarker, "", 1000)
		if err != nil {
			if isS3Code(err, "NotImplemented") {
				return "", nil, nil
			}
			return "", nil, fmt.Errorf("list unfinished uploads: %w", err)
		}
		for _, u := range res.Uploads {
			if u.Key == key && (best.UploadID == "" || u.Initiated.After(best.Initiated)) {
				best = u
			}
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	if best.UploadID == "" {
		return "", nil, nil
	}
	parts := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := core.ListObjectParts(ctx, bucket, key, best.UploadID, marker, 1000)
		if err != nil {
			if isS3Code(err, "NoSuchUpload") {
				return "", nil, nil
			}
			return "", nil, fmt.Errorf("list uploaded parts: %w", err)
		}
		for _, p := range res.ObjectParts {
			parts[p.PartNumber] = p
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	return best.UploadID, parts, nil
}

// putMultipart uploads f as a multipart upload of partSize parts, o.parallel
// at a time, resuming an unfinished upload of the same key when there is
// one. It returns the object's ETag and how many parts it did not resend.
func (a *app) putMultipart(ctx context.Context, r *remote, bucket, key string, f *os.File, size int64, contentType string, o putOptions, bar *progress) (string, int, error) {
	partSize := o.partSize
	n := int((size + partSize - 1) / partSize)
	if n > maxParts {
		return "", 0, fmt.Errorf("%s needs %d parts of %s, more than S3's %d: raise --part-size", f.Name(), n, fmtSize(partSize), maxParts)
	}
	uploadID, existing, err := findUpload(ctx, r.core, bucket, key)
	if err != nil {
		return "", 0, err
	}
	if uploadID != "" {
		a.infof(o.common, "Resuming the unfinished upload of %s/%s/%s (%d parts on the server).\n", r.name, bucket, key, len(existing))
	} else {
		uploadID, err = r.core.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{ContentType: contentType})
		if err != nil {
			return "", 0, fmt.Errorf("start multipart upload: %w", err)
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	parts := make([]minio.CompletePart, n)
	var (
		mu     sync.Mutex
		reused int
		wg     sync.WaitGroup
	)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 1; i <= n; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < min(o.parallel, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for num := range next {
				off := int64(num-1) * partSize
				sz := min(partSize, size-off)
				sum, err := md5Range(f, off, sz)
				if err != nil {
					cancel(fmt.Errorf("read %s: %w", f.Name(), err))
					return
				}
				if p, ok := existing[num]; ok && p.Size == sz && normETag(p.ETag) == hex.EncodeToString(sum) {
					parts[num-1] = minio.CompletePart{PartNumber: num, ETag: p.ETag}
					bar.Add(sz)
					mu.Lock()
					reused++
					mu.Unlock()
					continue
				}
				body := &countingSection{SectionReader: io.NewSectionReader(f, off, sz), bar: bar}
				p, err := r.core.PutObjectPart(ctx, bucket, key, uploadID, num, body, sz,
					minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum)})
				if err != nil {
					cancel(fmt.Errorf("upload part %d: %w", num, err))
					return
				}
				parts[num-1] = minio.CompletePart{PartNumber: num, ETag: p.ETag}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return "", reused, err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	info, err := r.core.CompleteMultipartUpload(ctx, bucket, key, uploadID, parts, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return "", reused, err
		}
		return "", reused, fmt.Errorf("complete multipart upload: %w", err)
	}
	return info.ETag, reused, nil
}

// countingSection is a part's bytes that report progress as they are read.
// It stays seekable so that minio-go can retry the part.
type countingSection struct {
	*io.SectionReader
	bar *progress
}

func (c *countingSection) Read(p []byte) (int, error) {
	n, err := c.SectionReader.Read(p)
	c.bar.Add(int64(n))
	return n, err
}
