package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/minio/minio-go/v7"
)

// lsEntry is one line of `ls --json`.
type lsEntry struct {
	Status       string    `json:"status"`
	Type         string    `json:"type"` // "bucket", "folder" or "file"
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified,omitzero"`
	ETag         string    `json:"etag,omitempty"`
	URL          string    `json:"url"`
}

func (a *app) cmdLs(ctx context.Context, args []string) error {
	fs := newFlags("ls", `coffer ls [-r] ALIAS[/BUCKET[/PREFIX]]

List an alias's buckets, or a bucket's objects and prefixes (size, date,
key). With -r, list every object under the prefix.`)
	var recursive bool
	fs.boolFlag(&recursive, "list recursively", "r", "recursive")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	p, err := parseRemote(pos[0])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	r, err := a.connect(p.Alias, &fs.common)
	if err != nil {
		return err
	}
	if p.Bucket == "" {
		return a.lsBuckets(ctx, r, &fs.common)
	}
	return a.lsObjects(ctx, r, p, recursive, &fs.common)
}

func (a *app) lsBuckets(ctx context.Context, r *remote, cf *commonFlags) error {
	buckets, err := r.mc.ListBuckets(ctx)
	if err != nil {
		return fmt.Errorf("list buckets of %s: %w", r.name, err)
	}
	for _, b := range buckets {
		if cf.json {
			if err := a.printJSON(lsEntry{Status: "success", Type: "bucket", Key: b.Name + "/", LastModified: b.CreationDate.UTC(), URL: r.name + "/" + b.Name}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(a.stdout, "[%s] %9s %s/\n", fmtTime(b.CreationDate), "0B", b.Name)
	}
	return nil
}

func (a *app) lsObjects(ctx context.Context, r *remote, p remotePath, recursive bool, cf *commonFlags) error {
	prefix := p.Key
	// `ls alias/bucket/dir` lists the folder dir/ when dir is one.
	if prefix != "" && !strings.HasSuffix(prefix, "/") && !recursive {
		isDir := false
		for obj := range r.mc.ListObjects(ctx, p.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
			if obj.Err != nil {
				return opErr("list "+p.String(), p.Bucket, "", obj.Err)
			}
			if obj.Key == prefix+"/" {
				isDir = true
			}
		}
		if isDir {
			prefix += "/"
		}
	}
	// Names are shown relative to the folder being listed.
	base := prefix[:strings.LastIndex(prefix, "/")+1]
	for obj := range r.mc.ListObjects(ctx, p.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive}) {
		if obj.Err != nil {
			return opErr("list "+p.String(), p.Bucket, "", obj.Err)
		}
		isDir := strings.HasSuffix(obj.Key, "/") && obj.Size == 0 && obj.ETag == ""
		name := strings.TrimPrefix(obj.Key, base)
		if cf.json {
			e := lsEntry{Status: "success", Type: "file", Key: obj.Key, Size: obj.Size, ETag: strings.Trim(obj.ETag, `"`), URL: r.name + "/" + p.Bucket + "/" + obj.Key}
			if isDir {
				e.Type = "folder"
			} else {
				e.LastModified = obj.LastModified.UTC()
			}
			if err := a.printJSON(e); err != nil {
				return err
			}
			continue
		}
		if isDir {
			fmt.Fprintf(a.stdout, "%25s %9s %s\n", "", "PRE", name)
			continue
		}
		fmt.Fprintf(a.stdout, "[%s] %9s %s\n", fmtTime(obj.LastModified), fmtSize(obj.Size), name)
	}
	return nil
}

func fmtTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

func fmtSize(n int64) string {
	return strings.ReplaceAll(humanize.IBytes(uint64(n)), " ", "")
}
