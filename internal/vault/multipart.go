package vault

// Multipart uploads. Each part is sealed on its own under its own data key,
// bound to (bucket, key, upload id, part number); completing an upload
// records the chosen parts as the segments of one object version whose
// version id is the upload id, so the parts' bindings and the metadata
// sealed at create time stay valid. Nothing is re-encrypted on completion.

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// maxListParts caps one page of parts or uploads, as S3 does; 0 asks for it.
const maxListParts = 1000

// CreateMultipartUpload starts an upload and returns its id. The metadata
// and tags in opts are sealed now and given to the completed object.
func (s *Service) CreateMultipartUpload(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return "", err
	}
	if err := validPutOptions(opts); err != nil {
		return "", err
	}
	op := fmt.Sprintf("create upload %s/%s", bucket, key)
	if err := s.bucketExists(ctx, bucket); err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	id := newID()
	sealedMeta, err := s.sealMeta(metaFromOptions(opts), bucket, key, id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	sealedTags, err := s.sealTags(opts.Tags, bucket, key, id)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	u := meta.Upload{ID: id, Bucket: bucket, Key: key, Initiated: s.clock(), Meta: sealedMeta, Tags: sealedTags}
	if err := s.meta.CreateUpload(ctx, u); err != nil {
		return "", metaErr(op, err)
	}
	return id, nil
}

// getUpload fetches an upload, which must belong to bucket and key.
func (s *Service) getUpload(ctx context.Context, op, bucket, key, uploadID string) (meta.Upload, error) {
	u, err := s.meta.GetUpload(ctx, bucket, key, uploadID)
	if errors.Is(err, meta.ErrNoSuchUpload) {
		if berr := s.bucketExists(ctx, bucket); berr != nil {
			return u, fmt.Errorf("%s: %w", op, berr)
		}
	}
	if err != nil {
		return u, metaErr(op, err)
	}
	if u.Bucket != bucket || u.Key != key || u.ID != uploadID {
		return u, fmt.Errorf("%s: %w", op, ErrNoSuchUpload)
	}
	return u, nil
}

// UploadPart stores part number part (1..MaxPartNumber) of an upload,
// replacing any earlier part with that number. size is as for PutObject.
func (s *Service) UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, size int64) (PartInfo, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return PartInfo{}, err
	}
	if err := validUploadID(uploadID); err != nil {
		return PartInfo{}, err
	}
	if err := validPartNumber(part); err != nil {
		return PartInfo{}, err
	}
	if err := checkSize(size, s.maxPutSize); err != nil {
		return PartInfo{}, err
	}
	op := fmt.Sprintf("upload part %d of %s/%s", part, bucket, key)
	if _, err := s.getUpload(ctx, op, bucket, key, uploadID); err != nil {
		return PartInfo{}, err
	}
	// Parts are scanned only to apply the bucket's gate; the labels of
	// the object come from the scan of the whole at completion.
	g, err := s.bucketGate(ctx, bucket)
	if err != nil {
		return PartInfo{}, err
	}
	var ss *streamScanner
	if g != nil {
		ss = s.newStreamScanner(g, part)
		defer ss.release()
	}
	seg, err := s.writeSegment(ctx, seal.Binding{Bucket: bucket, Key: key, VersionID: uploadID, Part: part}, body, size, ss)
	if err != nil {
		return PartInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	seg.Number = part
	replaced, err := s.meta.PutPart(ctx, uploadID, seg)
	if err != nil {
		s.deleteBlobs(ctx, []meta.Segment{seg})
		return PartInfo{}, metaErr(op, err)
	}
	if replaced != nil {
		s.deleteBlobs(ctx, []meta.Segment{*replaced})
	}
	return partInfo(seg), nil
}

func partInfo(seg meta.Segment) PartInfo {
	return PartInfo{Number: seg.Number, ETag: seg.ETag, Size: seg.Size, LastModified: seg.Created}
}

// CompleteMultipartUpload makes the listed parts one object. Parts must be
// listed in strictly ascending order (ErrInvalidPartOrder), exist with the
// given ETags (ErrInvalidPart), and all but the last be at least
// MinPartSize (ErrEntityTooSmall). Parts not listed are deleted.
func (s *Service) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	if err := validUploadID(uploadID); err != nil {
		return ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no parts to complete", ErrInvalidArgument)
	}
	for i, p := range parts {
		if err := validPartNumber(p.Number); err != nil {
			return ObjectInfo{}, err
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return ObjectInfo{}, fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, p.Number, parts[i-1].Number)
		}
	}
	op := fmt.Sprintf("complete upload %s/%s", bucket, key)
	u, err := s.getUpload(ctx, op, bucket, key, uploadID)
	if err != nil {
		return ObjectInfo{}, err
	}
	// Fail early on records that would make the object unreadable.
	m, err := s.openMeta(u.Meta, bucket, key, uploadID)
	if err != nil {
		s.logIntegrity(bucket, key, "", err)
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	tags, err := s.openTags(u.Tags, bucket, key, uploadID)
	if err != nil {
		s.logIntegrity(bucket, key, "", err)
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}

	stored := map[int]meta.Segment{}
	for after := 0; ; {
		segs, more, err := s.meta.ListParts(ctx, uploadID, after, maxListParts)
		if err != nil {
			return ObjectInfo{}, metaErr(op, err)
		}
		for _, sg := range segs {
			stored[sg.Number] = sg
		}
		if !more || len(segs) == 0 {
			break
		}
		after = segs[len(segs)-1].Number
	}

	o := meta.Object{
		Bucket:       bucket,
		Key:          key,
		VersionID:    uploadID,
		LastModified: s.clock(),
		Meta:         u.Meta,
		Tags:         u.Tags,
		Segments:     make([]meta.Segment, 0, len(parts)),
	}
	sums := md5.New()
	for i, p := range parts {
		sg, ok := stored[p.Number]
		if !ok {
			return ObjectInfo{}, fmt.Errorf("%s: %w: part %d was not uploaded", op, ErrInvalidPart, p.Number)
		}
		if !strings.EqualFold(strings.Trim(p.ETag, `"`), sg.ETag) {
			return ObjectInfo{}, fmt.Errorf("%s: %w: part %d ETag %s does not match", op, ErrInvalidPart, p.Number, p.ETag)
		}
		if i < len(parts)-1 && sg.Size < s.minPartSize {
			return ObjectInfo{}, fmt.Errorf("%s: %w: part %d is %d bytes", op, ErrEntityTooSmall, p.Number, sg.Size)
		}
		bin, err := hex.DecodeString(sg.ETag)
		if err != nil || len(bin) != md5.Size {
			return ObjectInfo{}, fmt.Errorf("%s: %w: stored ETag of part %d is malformed", op, ErrIntegrity, p.Number)
		}
		sums.Write(bin)
		o.Size += sg.Size
		o.Segments = append(o.Segments, sg)
	}
	if o.Size > MaxObjectSize {
		return ObjectInfo{}, fmt.Errorf("%s: %w: %d bytes", op, ErrEntityTooLarge, o.Size)
	}
	o.ETag = hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(parts))

	if err := s.scanCompleted(ctx, &o, m); err != nil {
		var rej *RejectedError
		if errors.As(err, &rej) {
			// Refused content is not kept: the upload goes with its parts.
			if segs, aerr := s.meta.AbortUpload(ctx, uploadID); aerr == nil {
				s.deleteBlobs(ctx, segs)
			} else {
				s.log.Warn("vault: abort refused upload", "upload", uploadID, "err", aerr)
			}
		}
		return ObjectInfo{}, fmt.Errorf("%s: %w", op, err)
	}
	replaced, unused, err := s.meta.CompleteUpload(ctx, uploadID, o)
	if err != nil {
		return ObjectInfo{}, metaErr(op, err)
	}
	s.deleteBlobs(ctx, unused)
	if replaced != nil {
		s.deleteBlobs(ctx, replaced.Segments)
	}
	s.afterWrite(ctx, o)
	return objectInfo(o, m, len(tags)), nil
}

// scanCompleted scans the object an upload is about to become, reading its
// parts back, when the bucket has a gate (which then sees matches that
// cross part borders) or the object is small enough to scan inline; it
// sets o.Scan. Larger objects are left to the background queue.
func (s *Service) scanCompleted(ctx context.Context, o *meta.Object, m objectMeta) error {
	g, err := s.bucketGate(ctx, o.Bucket)
	if err != nil {
		return err
	}
	if !s.scanning() || g == nil && o.Size > s.scan.InlineMax {
		return nil
	}
	r, err := s.newReader(*o, m, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	sc, err := s.scanReader(ctx, r, g, nil, 0)
	if err != nil {
		return err
	}
	o.Scan = sc
	return nil
}

// AbortMultipartUpload discards an upload and its parts.
func (s *Service) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := validBucketKey(bucket, key); err != nil {
		return err
	}
	if err := validUploadID(uploadID); err != nil {
		return err
	}
	op := fmt.Sprintf("abort upload %s/%s", bucket, key)
	if _, err := s.getUpload(ctx, op, bucket, key, uploadID); err != nil {
		return err
	}
	segs, err := s.meta.AbortUpload(ctx, uploadID)
	if err != nil {
		return metaErr(op, err)
	}
	s.deleteBlobs(ctx, segs)
	return nil
}

// ListParts lists an upload's parts with numbers above marker, at most
// maxParts (0 means 1000, the most one page holds).
func (s *Service) ListParts(ctx context.Context, bucket, key, uploadID string, marker, maxParts int) (PartsResult, error) {
	if err := validBucketKey(bucket, key); err != nil {
		return PartsResult{}, err
	}
	if err := validUploadID(uploadID); err != nil {
		return PartsResult{}, err
	}
	if marker < 0 || maxParts < 0 {
		return PartsResult{}, fmt.Errorf("%w: negative part marker or max-parts", ErrInvalidArgument)
	}
	if maxParts == 0 || maxParts > maxListParts {
		maxParts = maxListParts
	}
	op := fmt.Sprintf("list parts %s/%s", bucket, key)
	if _, err := s.getUpload(ctx, op, bucket, key, uploadID); err != nil {
		return PartsResult{}, err
	}
	segs, more, err := s.meta.ListParts(ctx, uploadID, marker, maxParts)
	if err != nil {
		return PartsResult{}, metaErr(op, err)
	}
	res := PartsResult{Parts: make([]PartInfo, len(segs)), IsTruncated: more && len(segs) > 0}
	for i, sg := range segs {
		res.Parts[i] = partInfo(sg)
	}
	if len(segs) > 0 {
		res.NextMarker = segs[len(segs)-1].Number
	}
	return res, nil
}

// ListMultipartUploads lists in-progress uploads in (key, initiated, id)
// order, rolling keys into common prefixes like ListObjects. MaxUploads 0
// means 1000, the most one page holds.
func (s *Service) ListMultipartUploads(ctx context.Context, bucket string, p UploadsParams) (UploadsResult, error) {
	if err := ValidBucketName(bucket); err != nil {
		return UploadsResult{}, err
	}
	if p.MaxUploads < 0 {
		return UploadsResult{}, fmt.Errorf("%w: negative max-uploads", ErrInvalidArgument)
	}
	if len(p.Prefix) > MaxKeyLen || len(p.KeyMarker) > MaxKeyLen+len(skipPast) || len(p.Delimiter) > MaxKeyLen {
		return UploadsResult{}, fmt.Errorf("%w: prefix, delimiter or marker too long", ErrInvalidArgument)
	}
	if p.UploadIDMarker != "" && p.KeyMarker == "" {
		// S3 ignores an upload id marker without a key marker.
		p.UploadIDMarker = ""
	}
	maxUploads := p.MaxUploads
	if maxUploads == 0 || maxUploads > maxListParts {
		maxUploads = maxListParts
	}
	op := fmt.Sprintf("list uploads %s", bucket)
	if err := s.bucketExists(ctx, bucket); err != nil {
		return UploadsResult{}, fmt.Errorf("%s: %w", op, err)
	}

	var res UploadsResult
	count := 0
	emit := func(u *meta.Upload, prefix string) bool {
		if count == maxUploads {
			res.IsTruncated = true
			return false
		}
		count++
		if u != nil {
			res.Uploads = append(res.Uploads, UploadInfo{Key: u.Key, UploadID: u.ID, Initiated: u.Initiated})
			res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
		} else {
			res.CommonPrefixes = append(res.CommonPrefixes, prefix)
			res.NextKeyMarker, res.NextUploadIDMarker = prefix, ""
		}
		return true
	}

	keyMarker, idMarker := p.KeyMarker, p.UploadIDMarker
	for {
		limit := min(maxUploads-count+1, maxListParts)
		ups, more, err := s.meta.ListUploads(ctx, bucket, meta.UploadListOptions{
			Prefix: p.Prefix, KeyMarker: keyMarker, UploadIDMarker: idMarker, Limit: limit,
		})
		if err != nil {
			return UploadsResult{}, metaErr(op, err)
		}
		skip := ""
		for i := range ups {
			u := &ups[i]
			if skip != "" && strings.HasPrefix(u.Key, skip) {
				continue
			}
			skip = ""
			if cp := commonPrefix(u.Key, p.Prefix, p.Delimiter); cp != "" {
				if cp > p.KeyMarker && !emit(nil, cp) {
					return res, nil
				}
				skip = cp
				keyMarker, idMarker = cp+skipPast, ""
				continue
			}
			if !emit(u, "") {
				return res, nil
			}
			keyMarker, idMarker = u.Key, u.ID
		}
		if !more || len(ups) == 0 {
			return res, nil
		}
	}
}
