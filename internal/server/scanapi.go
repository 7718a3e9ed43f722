package server

// Content scanning on the server: the vault's scan configuration, the
// object labels and size that S3 policy decisions see, and the admin
// endpoints for labels and bucket scan settings:
//
//	GET /admin/v1/objects/{bucket}/{key...}/labels   admin:GetObjectLabels on arn:coffer:admin:::objects/BUCKET/KEY
//	GET /admin/v1/buckets/{bucket}/scan              admin:GetBucketScan  on arn:coffer:admin:::buckets/BUCKET
//	PUT /admin/v1/buckets/{bucket}/scan              admin:PutBucketScan  on arn:coffer:admin:::buckets/BUCKET
//	GET /admin/v1/scan/queue                         admin:GetScanQueue   on arn:coffer:admin:::scan
//
// docs/scanning.md describes them.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coffer-vault/coffer/internal/policy"
	"github.com/coffer-vault/coffer/internal/scan"
	"github.com/coffer-vault/coffer/internal/vault"
)

// ScanConfig configures content scanning of uploads. The zero value scans
// with the embedded rule set and the vault's defaults.
type ScanConfig struct {
	// Off turns scanning off: no labels, and buckets' scan.reject rules
	// refuse nothing.
	Off bool
	// InlineMax is the largest upload scanned while it streams in; larger
	// ones (in buckets without a scan.reject rule) are scanned in the
	// background after the write. 0 means 64 MiB.
	InlineMax int64
	// Workers and QueueSize size the background queue (0: 1 worker, 256 jobs).
	Workers   int
	QueueSize int
	// OnLabels, if set, is told the labels of every version scanned: the
	// hook for the audit ledger.
	OnLabels vault.LabelsFunc
}

// vaultConfig compiles the engine and returns the vault's scan settings.
func (c ScanConfig) vaultConfig() (vault.ScanConfig, error) {
	if c.Off {
		return vault.ScanConfig{}, nil
	}
	e, err := scan.NewEngine(scan.DefaultConfig())
	if err != nil {
		return vault.ScanConfig{}, fmt.Errorf("scan engine: %w", err)
	}
	return vault.ScanConfig{Engine: e, InlineMax: c.InlineMax, Workers: c.Workers, QueueSize: c.QueueSize, OnLabels: c.OnLabels}, nil
}

// labelledActions are the S3 actions on an existing object whose decisions
// see object.labels and object.size. s3:PutObject is not among them: the
// labels of what is being uploaded are not known before it is scanned (a
// bucket's scan.reject rule is the gate for uploads), and the object a PUT
// may replace is not what the decision is about. s3:GetObject covers
// GetObject, HeadObject and the source of CopyObject.
var labelledActions = map[string]bool{
	"s3:GetObject":           true,
	"s3:GetObjectAcl":        true,
	"s3:GetObjectTagging":    true,
	"s3:PutObjectTagging":    true,
	"s3:DeleteObjectTagging": true,
	"s3:DeleteObject":        true,
}

// objectRequest fills object.labels and object.size for an action on an
// existing object. A version not scanned yet has the one label
// vault.PendingLabel, so a policy can refuse it until it is. A missing
// object has none (the operation then answers NoSuchKey).
func (a *keyAuthz) objectRequest(ctx context.Context, action, bucket, key string) (policy.Request, error) {
	if a.labels == nil || key == "" || !labelledActions[action] {
		return policy.Request{}, nil
	}
	l, err := a.labels(ctx, bucket, key)
	switch {
	case errors.Is(err, vault.ErrNoSuchKey), errors.Is(err, vault.ErrNoSuchBucket),
		errors.Is(err, vault.ErrInvalidKey), errors.Is(err, vault.ErrKeyTooLong), errors.Is(err, vault.ErrInvalidBucketName):
		return policy.Request{}, nil
	case err != nil:
		// Fail closed: without the labels there is no decision.
		return policy.Request{}, fmt.Errorf("object labels: %w", err)
	}
	return policy.Request{ObjectLabels: l.Names(), ObjectSize: l.Size}, nil
}

// scanAPI serves the scanning part of the admin plane, with the identity
// API's sessions and policy checks.
type scanAPI struct {
	id    *identityAPI
	vault interface {
		Labels(ctx context.Context, bucket, key string) (vault.ObjectLabels, error)
		BucketScan(ctx context.Context, bucket string) (vault.BucketScanSettings, error)
		SetBucketScan(ctx context.Context, bucket string, set vault.BucketScanSettings) error
		ScanQueueStatus() vault.ScanQueueStatus
	}
	log interface {
		Info(msg string, args ...any)
		Error(msg string, args ...any)
	}
}

func (a *scanAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/v1/objects/{bucket}/{rest...}", a.id.session(a.handleLabels))
	mux.HandleFunc("GET /admin/v1/buckets/{bucket}/scan", a.id.session(a.handleGetBucketScan))
	mux.HandleFunc("PUT /admin/v1/buckets/{bucket}/scan", a.id.session(a.handlePutBucketScan))
	mux.HandleFunc("GET /admin/v1/scan/queue", a.id.session(a.id.decide("admin:GetScanQueue",
		fixed("arn:coffer:admin:::scan"), a.handleQueue)))
}

type labelJSON struct {
	Type       string `json:"type"`
	Confidence string `json:"confidence"`
	Count      int    `json:"count"`
	Line       int    `json:"line"`
	Offset     int64  `json:"offset"`
}

type labelsJSON struct {
	Bucket    string      `json:"bucket"`
	Key       string      `json:"key"`
	VersionID string      `json:"version_id"`
	Size      int64       `json:"size"`
	State     string      `json:"state"`
	Scanned   *time.Time  `json:"scanned,omitempty"`
	Labels    []labelJSON `json:"labels"`
}

// handleLabels answers GET /admin/v1/objects/{bucket}/{key...}/labels.
func (a *scanAPI) handleLabels(w http.ResponseWriter, r *http.Request) {
	bucket := r.PathValue("bucket")
	key, ok := strings.CutSuffix(r.PathValue("rest"), "/labels")
	if !ok || key == "" {
		writeJSONError(w, http.StatusNotFound, "NotFound", "no such admin endpoint (GET /admin/v1/objects/BUCKET/KEY/labels)")
		return
	}
	if !a.id.allowed(w, r, "admin:GetObjectLabels", "arn:coffer:admin:::objects/"+bucket+"/"+key) {
		return
	}
	l, err := a.vault.Labels(r.Context(), bucket, key)
	if a.vaultFailed(w, "object labels", err) {
		return
	}
	out := labelsJSON{Bucket: l.Bucket, Key: l.Key, VersionID: l.VersionID, Size: l.Size, State: string(l.State), Labels: []labelJSON{}}
	if !l.Scanned.IsZero() {
		out.Scanned = &l.Scanned
	}
	for _, lb := range l.Labels {
		out.Labels = append(out.Labels, labelJSON{Type: lb.Type, Confidence: scan.Confidence(lb.Confidence).String(), Count: lb.Count, Line: lb.Line, Offset: lb.Offset})
	}
	writeJSON(w, http.StatusOK, out)
}

type bucketScanJSON struct {
	Bucket        string   `json:"bucket"`
	Reject        []string `json:"reject"`
	MinConfidence string   `json:"min_confidence"`
}

func bucketResource(r *http.Request) string {
	return "arn:coffer:admin:::buckets/" + r.PathValue("bucket")
}

func (a *scanAPI) handleGetBucketScan(w http.ResponseWriter, r *http.Request) {
	if !a.id.allowed(w, r, "admin:GetBucketScan", bucketResource(r)) {
		return
	}
	bucket := r.PathValue("bucket")
	set, err := a.vault.BucketScan(r.Context(), bucket)
	if a.vaultFailed(w, "bucket scan settings", err) {
		return
	}
	writeJSON(w, http.StatusOK, bucketScanJSON{Bucket: bucket, Reject: set.Reject, MinConfidence: set.MinConfidence.String()})
}

// handlePutBucketScan sets scan.reject: {"reject": ["secret", "pii:iban"],
// "min_confidence": "LIKELY"}; an empty list turns the gate off.
func (a *scanAPI) handlePutBucketScan(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reject        []string `json:"reject"`
		MinConfidence string   `json:"min_confidence"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !a.id.allowed(w, r, "admin:PutBucketScan", bucketResource(r)) {
		return
	}
	bucket := r.PathValue("bucket")
	var set vault.BucketScanSettings
	if req.MinConfidence != "" {
		c, err := scan.ParseConfidence(req.MinConfidence)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
			return
		}
		set.MinConfidence = c
	}
	reject, err := vault.ParseReject(strings.Join(req.Reject, ","))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidArgument", strings.TrimPrefix(err.Error(), vault.ErrInvalidArgument.Error()+": "))
		return
	}
	if bad := unknownFindingTypes(reject); len(bad) > 0 {
		writeJSONError(w, http.StatusBadRequest, "InvalidArgument",
			fmt.Sprintf("unknown finding type or class %s (see docs/scan-rules.md; classes: %s)", strings.Join(bad, ", "), strings.Join(findingClasses(), ", ")))
		return
	}
	set.Reject = reject
	if a.vaultFailed(w, "set bucket scan settings", a.vault.SetBucketScan(r.Context(), bucket, set)) {
		return
	}
	a.log.Info("bucket scan settings", "by", identityOf(r).User, "bucket", bucket, "reject", strings.Join(reject, ","), "min_confidence", set.MinConfidence)
	set, err = a.vault.BucketScan(r.Context(), bucket)
	if a.vaultFailed(w, "bucket scan settings", err) {
		return
	}
	writeJSON(w, http.StatusOK, bucketScanJSON{Bucket: bucket, Reject: set.Reject, MinConfidence: set.MinConfidence.String()})
}

func (a *scanAPI) handleQueue(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.vault.ScanQueueStatus())
}

// vaultFailed writes the admin error for a vault error and reports whether
// there was one.
func (a *scanAPI) vaultFailed(w http.ResponseWriter, what string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, vault.ErrNoSuchBucket):
		writeJSONError(w, http.StatusNotFound, "NoSuchBucket", "no such bucket")
	case errors.Is(err, vault.ErrNoSuchKey):
		writeJSONError(w, http.StatusNotFound, "NoSuchKey", "no such object")
	case errors.Is(err, vault.ErrInvalidBucketName), errors.Is(err, vault.ErrInvalidKey), errors.Is(err, vault.ErrKeyTooLong),
		errors.Is(err, vault.ErrInvalidArgument):
		writeJSONError(w, http.StatusBadRequest, "InvalidArgument", "invalid bucket name, key or setting")
	default:
		a.log.Error(what, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "InternalError", what+" failed")
	}
	return true
}

// findingTypes returns the finding types of the embedded rule set.
func findingTypes() map[string]bool {
	out := map[string]bool{}
	for _, r := range scan.DefaultConfig().Rules {
		if r.Type != "" {
			out[r.Type] = true
		}
	}
	return out
}

// findingClasses returns the classes ("pii", "secret") of the embedded rules.
func findingClasses() []string {
	seen := map[string]bool{}
	var out []string
	for t := range findingTypes() {
		c, _, _ := strings.Cut(t, ":")
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// unknownFindingTypes returns the entries of reject that name no class or
// type of the embedded rule set.
func unknownFindingTypes(reject []string) []string {
	types := findingTypes()
	classes := map[string]bool{}
	for _, c := range findingClasses() {
		classes[c] = true
	}
	var bad []string
	for _, e := range reject {
		if !types[e] && !classes[e] {
			bad = append(bad, e)
		}
	}
	return bad
}
