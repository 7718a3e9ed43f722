package s3api

import (
	"encoding/xml"
	"net/http"
	"sort"
)

// listBuckets answers ListBuckets (GET /).
func (h *handler) listBuckets(w http.ResponseWriter, rq *request) error {
	bs, err := h.objects.ListBuckets(rq.ctx())
	if err != nil {
		return err
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
	res := listAllMyBucketsResult{NS: s3NS, Owner: h.owner(rq), Buckets: make([]bucketEntry, 0, len(bs))}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: xmlTime(b.Created)})
	}
	return writeXML(w, http.StatusOK, res)
}

// createBucket answers CreateBucket (PUT /bucket). An optional
// CreateBucketConfiguration may name our region (or none).
func (h *handler) createBucket(w http.ResponseWriter, rq *request) error {
	if rq.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled") == "true" {
		return apiErr("NotImplemented", "Object lock is not implemented.")
	}
	var cfg createBucketConfiguration
	if err := decodeOptionalXML(rq.body, maxXMLBody, &cfg); err != nil {
		return err
	}
	if loc := cfg.LocationConstraint; loc != "" && loc != h.region {
		return apiErr("InvalidLocationConstraint", "The specified location-constraint is not valid: this server serves %s.", h.region)
	}
	if err := h.objects.CreateBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	w.Header().Set("Location", "/"+rq.bucket)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// headBucket answers HeadBucket (HEAD /bucket).
func (h *handler) headBucket(w http.ResponseWriter, rq *request) error {
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", h.region)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket answers DeleteBucket (DELETE /bucket): 204 when gone.
func (h *handler) deleteBucket(w http.ResponseWriter, rq *request) error {
	if err := h.objects.DeleteBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketLocation answers GET /bucket?location. us-east-1 is the empty
// constraint, as S3 has it.
func (h *handler) getBucketLocation(w http.ResponseWriter, rq *request) error {
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	loc := h.region
	if loc == "us-east-1" {
		loc = ""
	}
	return writeXML(w, http.StatusOK, locationConstraint{NS: s3NS, Location: loc})
}

// getBucketVersioning answers GET /bucket?versioning: versioning has never
// been enabled, which is an empty configuration.
func (h *handler) getBucketVersioning(w http.ResponseWriter, rq *request) error {
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, versioningConfiguration{NS: s3NS})
}

// getBucketACL answers GET /bucket?acl with the only ACL Coffer has: the
// owner's FULL_CONTROL. Access is decided by Coffer's own policies.
func (h *handler) getBucketACL(w http.ResponseWriter, rq *request) error {
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, h.ownerACL(rq))
}

// getObjectACL answers GET /bucket/key?acl like getBucketACL.
func (h *handler) getObjectACL(w http.ResponseWriter, rq *request) error {
	rd, err := h.objects.OpenObject(rq.ctx(), rq.bucket, rq.key)
	if err != nil {
		return err
	}
	_ = rd.Close()
	return writeXML(w, http.StatusOK, h.ownerACL(rq))
}

// owner is who Coffer reports as the owner of buckets and objects: the
// authenticated access key (Coffer is single-tenant; policies decide access).
func (h *handler) owner(rq *request) owner {
	return owner{ID: rq.accessKey, DisplayName: rq.accessKey}
}

func (h *handler) ownerACL(rq *request) accessControlPolicy {
	o := h.owner(rq)
	return accessControlPolicy{
		NS:    s3NS,
		Owner: o,
		Grants: []grant{{
			Grantee: grantee{
				XMLNSXSI:    "http://www.w3.org/2001/XMLSchema-instance",
				Type:        "CanonicalUser",
				ID:          o.ID,
				DisplayName: o.DisplayName,
			},
			Permission: "FULL_CONTROL",
		}},
	}
}

// probe is a bucket configuration Coffer does not support but that tools
// read (rclone, s3cmd info, restic, consoles): it answers either with an
// error (the "not configured" S3 sends) or with a fixed document.
type probe struct {
	name, action string
	code, msg    string
	doc          func() any
}

// bucketProbes maps a GET bucket subresource to its answer.
var bucketProbes = map[string]probe{
	"policy":            {name: "GetBucketPolicy", action: "s3:GetBucketPolicy", code: "NoSuchBucketPolicy", msg: "The bucket policy does not exist"},
	"cors":              {name: "GetBucketCors", action: "s3:GetBucketCORS", code: "NoSuchCORSConfiguration", msg: "The CORS configuration does not exist"},
	"lifecycle":         {name: "GetBucketLifecycleConfiguration", action: "s3:GetLifecycleConfiguration", code: "NoSuchLifecycleConfiguration", msg: "The lifecycle configuration does not exist"},
	"website":           {name: "GetBucketWebsite", action: "s3:GetBucketWebsite", code: "NoSuchWebsiteConfiguration", msg: "The specified bucket does not have a website configuration"},
	"replication":       {name: "GetBucketReplication", action: "s3:GetReplicationConfiguration", code: "ReplicationConfigurationNotFoundError", msg: "The replication configuration was not found"},
	"object-lock":       {name: "GetObjectLockConfiguration", action: "s3:GetBucketObjectLockConfiguration", code: "ObjectLockConfigurationNotFoundError", msg: "Object Lock configuration does not exist for this bucket"},
	"publicAccessBlock": {name: "GetPublicAccessBlock", action: "s3:GetBucketPublicAccessBlock", code: "NoSuchPublicAccessBlockConfiguration", msg: "The public access block configuration was not found"},
	"ownershipControls": {name: "GetBucketOwnershipControls", action: "s3:GetBucketOwnershipControls", code: "OwnershipControlsNotFoundError", msg: "The bucket ownership controls were not found"},
	"tagging":           {name: "GetBucketTagging", action: "s3:GetBucketTagging", code: "NoSuchTagSet", msg: "The TagSet does not exist"},
	"policyStatus": {name: "GetBucketPolicyStatus", action: "s3:GetBucketPolicyStatus", doc: func() any {
		return policyStatus{NS: s3NS, IsPublic: false}
	}},
	"encryption": {name: "GetBucketEncryption", action: "s3:GetEncryptionConfiguration", doc: func() any {
		return serverSideEncryptionConfiguration{NS: s3NS, SSEAlgorithm: "AES256"}
	}},
	"logging": {name: "GetBucketLogging", action: "s3:GetBucketLogging", doc: func() any {
		return emptyDocument{XMLName: xml.Name{Local: "BucketLoggingStatus"}, NS: s3NS}
	}},
	"notification": {name: "GetBucketNotificationConfiguration", action: "s3:GetBucketNotification", doc: func() any {
		return emptyDocument{XMLName: xml.Name{Local: "NotificationConfiguration"}, NS: s3NS}
	}},
	"accelerate": {name: "GetBucketAccelerateConfiguration", action: "s3:GetAccelerateConfiguration", doc: func() any {
		return emptyDocument{XMLName: xml.Name{Local: "AccelerateConfiguration"}, NS: s3NS}
	}},
	"requestPayment": {name: "GetBucketRequestPayment", action: "s3:GetBucketRequestPayment", doc: func() any {
		return requestPaymentConfiguration{NS: s3NS, Payer: "BucketOwner"}
	}},
}

// bucketProbe answers a GET bucket subresource from bucketProbes.
func (h *handler) bucketProbe(w http.ResponseWriter, rq *request) error {
	if _, err := h.objects.HeadBucket(rq.ctx(), rq.bucket); err != nil {
		return err
	}
	sub, _ := subresource(rq.query)
	p, ok := bucketProbes[sub]
	if !ok {
		return apiErr("NotImplemented", "GET with the %q subresource is not implemented.", sub)
	}
	if p.doc == nil {
		return apiErr(p.code, "%s", p.msg)
	}
	return writeXML(w, http.StatusOK, p.doc())
}
