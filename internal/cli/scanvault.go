package cli

// Content scanning on the server: a bucket's upload gate (scan.reject) and
// an object's labels, through the session-authenticated admin plane.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

type bucketScanReply struct {
	Bucket        string   `json:"bucket"`
	Reject        []string `json:"reject"`
	MinConfidence string   `json:"min_confidence"`
}

func (a *app) cmdBucket(ctx context.Context, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "scan-reject":
		fs := newFlags("bucket scan-reject", `coffer bucket scan-reject [--min-confidence LEVEL] ALIAS/BUCKET TYPES

Refuse uploads to BUCKET whose content holds a finding of TYPES: a
comma-separated list of classes (secret, pii) and finding types
(secret:aws_access_key, pii:iban; see docs/scan-rules.md), or "none" to
turn the gate off. A refused upload gets the S3 error ContentRejected and
nothing is stored. LEVEL is the least confidence that refuses (default
LIKELY). Needs admin:PutBucketScan.`)
		var minConf string
		fs.StringVar(&minConf, "min-confidence", "", "least confidence that refuses: VERY_UNLIKELY ... VERY_LIKELY (default LIKELY)")
		pos, err := a.parse(fs, args[1:], 2, 2)
		if err != nil {
			return err
		}
		p, err := needBucket(pos[0])
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		reject := []string{}
		if t := strings.TrimSpace(pos[1]); t != "" && !strings.EqualFold(t, "none") {
			for e := range strings.SplitSeq(t, ",") {
				reject = append(reject, strings.TrimSpace(e))
			}
		}
		s, err := a.openSession(fs, p.Alias)
		if err != nil {
			return err
		}
		var out bucketScanReply
		in := map[string]any{"reject": reject, "min_confidence": minConf}
		if err := s.call(ctx, http.MethodPut, "/buckets/"+p.Bucket+"/scan", in, &out); err != nil {
			return fmt.Errorf("set scan.reject of %s on %s: %w", p.Bucket, s.name, err)
		}
		return a.printBucketScan(fs.common.json, out)
	case "scan":
		fs := newFlags("bucket scan", "coffer bucket scan ALIAS/BUCKET\n\nShow a bucket's scan settings (scan.reject).")
		pos, err := a.parse(fs, args[1:], 1, 1)
		if err != nil {
			return err
		}
		p, err := needBucket(pos[0])
		if err != nil {
			return usagef(fs.cmd, "%v", err)
		}
		s, err := a.openSession(fs, p.Alias)
		if err != nil {
			return err
		}
		var out bucketScanReply
		if err := s.call(ctx, http.MethodGet, "/buckets/"+p.Bucket+"/scan", nil, &out); err != nil {
			return fmt.Errorf("scan settings of %s on %s: %w", p.Bucket, s.name, err)
		}
		return a.printBucketScan(fs.common.json, out)
	}
	return usagef("bucket", "bucket: the subcommands are scan and scan-reject")
}

func (a *app) printBucketScan(asJSON bool, out bucketScanReply) error {
	if asJSON {
		return a.printJSON(out)
	}
	if len(out.Reject) == 0 {
		fmt.Fprintf(a.stdout, "Bucket %s: scan.reject is off (uploads are labelled, none refused).\n", out.Bucket)
		return nil
	}
	fmt.Fprintf(a.stdout, "Bucket %s: scan.reject = %s (at %s or above)\n", out.Bucket, strings.Join(out.Reject, ","), out.MinConfidence)
	return nil
}

func (a *app) cmdLabels(ctx context.Context, args []string) error {
	fs := newFlags("labels", `coffer labels ALIAS/BUCKET/KEY

Show what scanning found in an object: each finding type with its
confidence, count and first place (line, byte offset). Values are never
shown. Needs admin:GetObjectLabels.`)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	p, err := needObject(pos[0])
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	if strings.Contains(p.Key, "?") {
		return usagef(fs.cmd, "labels: keys with '?' cannot be asked about yet")
	}
	s, err := a.openSession(fs, p.Alias)
	if err != nil {
		return err
	}
	var out struct {
		Bucket    string `json:"bucket"`
		Key       string `json:"key"`
		VersionID string `json:"version_id"`
		Size      int64  `json:"size"`
		State     string `json:"state"`
		Labels    []struct {
			Type       string `json:"type"`
			Confidence string `json:"confidence"`
			Count      int    `json:"count"`
			Line       int    `json:"line"`
			Offset     int64  `json:"offset"`
		} `json:"labels"`
	}
	if err := s.call(ctx, http.MethodGet, "/objects/"+p.Bucket+"/"+p.Key+"/labels", nil, &out); err != nil {
		return fmt.Errorf("labels of %s on %s: %w", p, s.name, err)
	}
	if fs.common.json {
		return a.printJSON(out)
	}
	fmt.Fprintf(a.stdout, "%s/%s (version %s, %d bytes): %s\n", out.Bucket, out.Key, out.VersionID, out.Size, out.State)
	if len(out.Labels) == 0 {
		if out.State == "scanned" {
			fmt.Fprintln(a.stdout, "No findings.")
		}
		return nil
	}
	tw := a.newTable("LABEL\tCONFIDENCE\tCOUNT\tFIRST AT")
	for _, l := range out.Labels {
		fmt.Fprintf(tw, "%s\t%s\t%d\tline %d, byte %d\n", l.Type, l.Confidence, l.Count, l.Line, l.Offset)
	}
	return tw.Flush()
}
