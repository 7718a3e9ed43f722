package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"
)

// maxListed is how many keys `rm -r` shows before asking.
const maxListed = 20

func (a *app) cmdRm(ctx context.Context, args []string) error {
	fs := newFlags("rm", `coffer rm ALIAS/BUCKET/KEY...
       coffer rm -r [--yes] ALIAS/BUCKET[/PREFIX]

Remove objects. With -r, remove every object under the prefix: the command
lists what will go and asks for confirmation on the terminal, unless --yes
(or --force). Without a terminal it refuses unless --yes is given.`)
	var recursive, yes, incomplete bool
	fs.boolFlag(&recursive, "remove every object under the prefix", "r", "recursive")
	fs.boolFlag(&yes, "do not ask for confirmation", "y", "yes", "force")
	fs.BoolVar(&incomplete, "incomplete", false, "remove unfinished multipart uploads under the path instead of objects")
	pos, err := a.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	var paths []remotePath
	for _, s := range pos {
		var p remotePath
		if recursive || incomplete {
			p, err = parseRemote(s)
			if err == nil && p.Bucket == "" {
				err = fmt.Errorf("%q names no bucket: want ALIAS/BUCKET[/PREFIX]", s)
			}
		} else {
			p, err = needObject(s)
			if err != nil && p.Bucket != "" {
				err = fmt.Errorf("%w (use -r to remove a prefix)", err)
			}
		}
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		paths = append(paths, p)
	}
	for _, p := range paths {
		r, err := a.connect(p.Alias, &fs.common)
		if err != nil {
			return err
		}
		switch {
		case incomplete:
			err = a.rmIncomplete(ctx, r, p, &fs.common)
		case recursive:
			err = a.rmRecursive(ctx, r, p, yes, &fs.common)
		default:
			err = a.rmOne(ctx, r, p, &fs.common)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *app) rmOne(ctx context.Context, r *remote, p remotePath, cf *commonFlags) error {
	// S3 deletes of a missing key succeed; say so instead.
	if _, err := r.mc.StatObject(ctx, p.Bucket, p.Key, minio.StatObjectOptions{}); err != nil {
		return opErr("remove "+p.String(), p.Bucket, p.Key, err)
	}
	if err := r.mc.RemoveObject(ctx, p.Bucket, p.Key, minio.RemoveObjectOptions{}); err != nil {
		return opErr("remove "+p.String(), p.Bucket, p.Key, err)
	}
	if cf.json {
		return a.printJSON(map[string]string{"status": "success", "key": p.String()})
	}
	if !cf.quiet {
		fmt.Fprintf(a.stdout, "Removed %s\n", p)
	}
	return nil
}

func (a *app) rmRecursive(ctx context.Context, r *remote, p remotePath, yes bool, cf *commonFlags) error {
	keys, err := a.listKeys(ctx, r, p.Bucket, p.Key)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if cf.json {
			return a.printJSON(map[string]any{"status": "success", "prefix": p.String(), "removed": 0})
		}
		a.infof(cf, "Nothing to remove under %s.\n", p)
		return nil
	}
	if !yes {
		if !a.isTerminal(a.stdin) {
			return fmt.Errorf("refusing to remove %d objects under %s without confirmation: stdin is not a terminal (pass --yes)", len(keys), p)
		}
		for i, k := range keys {
			if i == maxListed {
				fmt.Fprintf(a.stderr, "  ... and %d more\n", len(keys)-maxListed)
				break
			}
			fmt.Fprintf(a.stderr, "  %s/%s/%s\n", p.Alias, p.Bucket, k)
		}
		ok, err := a.confirm(fmt.Sprintf("Remove %d objects?", len(keys)), "--yes")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("nothing removed")
		}
	}
	n, err := a.removeKeys(ctx, r, p.Bucket, keys)
	if err != nil {
		return err
	}
	if cf.json {
		return a.printJSON(map[string]any{"status": "success", "prefix": p.String(), "removed": n})
	}
	if !cf.quiet {
		fmt.Fprintf(a.stdout, "Removed %d objects under %s.\n", n, p)
	}
	return nil
}

func (a *app) rmIncomplete(ctx context.Context, r *remote, p remotePath, cf *commonFlags) error {
	n := 0
	for up := range r.mc.ListIncompleteUploads(ctx, p.Bucket, p.Key, true) {
		if up.Err != nil {
			return opErr("list unfinished uploads in "+p.String(), p.Bucket, "", up.Err)
		}
		if err := r.core.AbortMultipartUpload(ctx, p.Bucket, up.Key, up.UploadID); err != nil {
			return fmt.Errorf("abort upload of %s: %w", up.Key, err)
		}
		n++
	}
	if cf.json {
		return a.printJSON(map[string]any{"status": "success", "prefix": p.String(), "aborted": n})
	}
	if !cf.quiet {
		fmt.Fprintf(a.stdout, "Aborted %d unfinished uploads under %s.\n", n, p)
	}
	return nil
}

// listKeys returns every key under prefix.
func (a *app) listKeys(ctx context.Context, r *remote, bucket, prefix string) ([]string, error) {
	var keys []string
	for obj := range r.mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, opErr("list "+r.name+"/"+bucket+"/"+prefix, bucket, "", obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys, nil
}

// removeKeys deletes keys with batched multi-object deletes and returns
// how many went.
func (a *app) removeKeys(ctx context.Context, r *remote, bucket string, keys []string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	ch := make(chan minio.ObjectInfo)
	go func() {
		defer close(ch)
		for _, k := range keys {
			select {
			case ch <- minio.ObjectInfo{Key: k}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	failed := 0
	for e := range r.mc.RemoveObjects(ctx, bucket, ch, minio.RemoveObjectsOptions{}) {
		failed++
		if first == nil {
			first = fmt.Errorf("%s: %w", e.ObjectName, e.Err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if failed > 0 {
		return len(keys) - failed, fmt.Errorf("%d of %d objects were not removed; the first: %w", failed, len(keys), first)
	}
	return len(keys), nil
}
