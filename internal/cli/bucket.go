package cli

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"
)

func (a *app) cmdMb(ctx context.Context, args []string) error {
	fs := newFlags("mb", `coffer mb [--ignore-existing] ALIAS/BUCKET...

Make buckets.`)
	var ignore bool
	fs.boolFlag(&ignore, "succeed if the bucket already exists", "p", "ignore-existing")
	pos, err := a.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	var targets []remotePath
	for _, s := range pos {
		p, err := needBucket(s)
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		targets = append(targets, p)
	}
	for _, p := range targets {
		r, err := a.connect(p.Alias, &fs.common)
		if err != nil {
			return err
		}
		err = r.mc.MakeBucket(ctx, p.Bucket, minio.MakeBucketOptions{Region: r.alias.Region})
		if err != nil && !(ignore && (isS3Code(err, "BucketAlreadyOwnedByYou") || isS3Code(err, "BucketAlreadyExists"))) {
			return opErr("make bucket "+p.String(), p.Bucket, "", err)
		}
		if fs.common.json {
			if err := a.printJSON(map[string]string{"status": "success", "bucket": p.String()}); err != nil {
				return err
			}
		} else if !fs.common.quiet {
			fmt.Fprintf(a.stdout, "Bucket created: %s\n", p)
		}
	}
	return nil
}

func (a *app) cmdRb(ctx context.Context, args []string) error {
	fs := newFlags("rb", `coffer rb [--force [--yes]] ALIAS/BUCKET

Remove a bucket. It must be empty unless --force, which first removes every
object and unfinished upload in it (after asking, unless --yes).`)
	var force, yes bool
	fs.BoolVar(&force, "force", false, "remove the bucket's objects first")
	fs.boolFlag(&yes, "do not ask for confirmation", "y", "yes")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	p, err := needBucket(pos[0])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	r, err := a.connect(p.Alias, &fs.common)
	if err != nil {
		return err
	}
	removed := 0
	if force {
		ok, err := r.mc.BucketExists(ctx, p.Bucket)
		if err != nil {
			return opErr("remove bucket "+p.String(), p.Bucket, "", err)
		}
		if !ok {
			return opErr("remove bucket "+p.String(), p.Bucket, "", minio.ErrorResponse{Code: "NoSuchBucket"})
		}
		keys, err := a.listKeys(ctx, r, p.Bucket, "")
		if err != nil {
			return err
		}
		if len(keys) > 0 && !yes {
			ok, err := a.confirm(fmt.Sprintf("Remove bucket %s and its %d objects?", p, len(keys)), "--yes")
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("not removed")
			}
		}
		if removed, err = a.removeKeys(ctx, r, p.Bucket, keys); err != nil {
			return err
		}
		for up := range r.mc.ListIncompleteUploads(ctx, p.Bucket, "", true) {
			if up.Err != nil {
				break // best effort: the bucket removal reports what is left
			}
			_ = r.core.AbortMultipartUpload(ctx, p.Bucket, up.Key, up.UploadID)
		}
	}
	if err := r.mc.RemoveBucket(ctx, p.Bucket); err != nil {
		return opErr("remove bucket "+p.String(), p.Bucket, "", err)
	}
	if fs.common.json {
		return a.printJSON(map[string]any{"status": "success", "bucket": p.String(), "objects_removed": removed})
	}
	if !fs.common.quiet {
		fmt.Fprintf(a.stdout, "Removed bucket %s", p)
		if removed > 0 {
			fmt.Fprintf(a.stdout, " and %d objects", removed)
		}
		fmt.Fprintln(a.stdout, ".")
	}
	return nil
}
