package cli

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"
)

// statResult is `stat --json`'s output.
type statResult struct {
	Status       string            `json:"status"`
	Name         string            `json:"name"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	Type         string            `json:"type"`
	LastModified time.Time         `json:"lastModified"`
	Encryption   string            `json:"encryption,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	VersionID    string            `json:"versionId,omitempty"`
}

func (a *app) cmdStat(ctx context.Context, args []string) error {
	fs := newFlags("stat", `coffer stat ALIAS/BUCKET/KEY...

Show an object's size, ETag, content type, modification time, user
metadata and server-side encryption.`)
	pos, err := a.parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	var objs []remotePath
	for _, s := range pos {
		p, err := needObject(s)
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		objs = append(objs, p)
	}
	for i, p := range objs {
		r, err := a.connect(p.Alias, &fs.common)
		if err != nil {
			return err
		}
		info, err := r.mc.StatObject(ctx, p.Bucket, p.Key, minio.StatObjectOptions{})
		if err != nil {
			return opErr("stat "+p.String(), p.Bucket, p.Key, err)
		}
		res := statResult{
			Status:       "success",
			Name:         p.String(),
			Size:         info.Size,
			ETag:         normETag(info.ETag),
			Type:         info.ContentType,
			LastModified: info.LastModified.UTC(),
			Encryption:   info.Metadata.Get("X-Amz-Server-Side-Encryption"),
			VersionID:    info.VersionID,
			Metadata:     map[string]string{},
		}
		for k, v := range info.UserMetadata {
			res.Metadata[k] = v
		}
		if fs.common.json {
			if err := a.printJSON(res); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		a.printStat(res)
	}
	return nil
}

func (a *app) printStat(s statResult) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
	enc := s.Encryption
	if enc == "" {
		enc = "none reported"
	}
	fmt.Fprintf(tw, "Name\t: %s\n", s.Name)
	fmt.Fprintf(tw, "Date\t: %s\n", fmtTime(s.LastModified))
	fmt.Fprintf(tw, "Size\t: %s (%d bytes)\n", fmtSize(s.Size), s.Size)
	fmt.Fprintf(tw, "ETag\t: %s\n", s.ETag)
	fmt.Fprintf(tw, "Type\t: %s\n", s.Type)
	fmt.Fprintf(tw, "Encryption\t: %s\n", enc)
	if s.VersionID != "" {
		fmt.Fprintf(tw, "VersionID\t: %s\n", s.VersionID)
	}
	if len(s.Metadata) > 0 {
		fmt.Fprintf(tw, "Metadata\t:\n")
		keys := make([]string, 0, len(s.Metadata))
		for k := range s.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t: %s\n", k, s.Metadata[k])
		}
	}
	tw.Flush()
}

// maxPresignExpiry is SigV4's limit for presigned URLs.
const maxPresignExpiry = 7 * 24 * time.Hour

func (a *app) cmdPresign(ctx context.Context, args []string) error {
	fs := newFlags("presign", `coffer presign [--expires 1h] [--put] ALIAS/BUCKET/KEY

Print a presigned URL that lets anyone holding it download the object (or,
with --put, upload it) until it expires. No request is made.`)
	var expires time.Duration
	var put bool
	fs.DurationVar(&expires, "expires", time.Hour, "how long the URL is valid (at most 168h)")
	fs.BoolVar(&put, "put", false, "presign an upload (HTTP PUT) instead of a download")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if expires < time.Second || expires > maxPresignExpiry {
		return usagef(fs.cmd, "presign: --expires must be between 1s and 168h (7 days)")
	}
	p, err := needObject(pos[0])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	r, err := a.connect(p.Alias, &fs.common)
	if err != nil {
		return err
	}
	var u *url.URL
	method := "GET"
	if put {
		method = "PUT"
		u, err = r.mc.PresignedPutObject(ctx, p.Bucket, p.Key, expires)
	} else {
		u, err = r.mc.PresignedGetObject(ctx, p.Bucket, p.Key, expires, nil)
	}
	if err != nil {
		return opErr("presign "+p.String(), p.Bucket, p.Key, err)
	}
	if fs.common.json {
		return a.printJSON(map[string]any{
			"status": "success", "url": u.String(), "method": method, "object": p.String(),
			"expires": a.now().Add(expires).UTC().Format(time.RFC3339),
		})
	}
	fmt.Fprintln(a.stdout, u.String())
	a.infof(&fs.common, "%s URL valid for %s (until %s).\n", method, fmtDuration(expires), fmtTime(a.now().Add(expires)))
	return nil
}

// fmtDuration prints d without zero minutes and seconds ("1h", "90m").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
