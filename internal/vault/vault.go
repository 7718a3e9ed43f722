// Package vault is the object service: buckets, objects, multipart uploads
// and tags, with plaintext in and plaintext out. It validates names, seals
// every byte through package seal before it reaches the blob store, keeps
// metadata in the meta store, and destroys an object's wrapped data keys when
// the object goes (crypto-shredding). It knows nothing of HTTP or S3 wire
// formats; package s3api translates.
package vault

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// Sentinel errors; s3api maps each to its S3 error code.
var (
	ErrInvalidBucketName  = errors.New("vault: invalid bucket name")                        // InvalidBucketName
	ErrNoSuchBucket       = errors.New("vault: no such bucket")                             // NoSuchBucket
	ErrBucketExists       = errors.New("vault: bucket already exists")                      // BucketAlreadyOwnedByYou
	ErrBucketNotEmpty     = errors.New("vault: bucket not empty")                           // BucketNotEmpty
	ErrNoSuchKey          = errors.New("vault: no such key")                                // NoSuchKey
	ErrKeyTooLong         = errors.New("vault: key longer than 1024 bytes")                 // KeyTooLongError
	ErrInvalidKey         = errors.New("vault: invalid object key")                         // InvalidArgument
	ErrNoSuchUpload       = errors.New("vault: no such upload")                             // NoSuchUpload
	ErrInvalidPart        = errors.New("vault: invalid part")                               // InvalidPart
	ErrInvalidPartOrder   = errors.New("vault: parts not in ascending order")               // InvalidPartOrder
	ErrEntityTooSmall     = errors.New("vault: part smaller than 5 MiB")                    // EntityTooSmall
	ErrEntityTooLarge     = errors.New("vault: entity too large")                           // EntityTooLarge
	ErrIncompleteBody     = errors.New("vault: body shorter than its declared size")        // IncompleteBody
	ErrInvalidTag         = errors.New("vault: invalid tag")                                // InvalidTag
	ErrInvalidCopy        = errors.New("vault: copy onto itself without changing anything") // InvalidRequest
	ErrPreconditionFailed = errors.New("vault: precondition failed")                        // PreconditionFailed
	// ErrIntegrity wraps seal.ErrIntegrity: stored data failed authentication.
	ErrIntegrity = seal.ErrIntegrity // InternalError (never wrong bytes)
	// ErrInvalidArgument reports a malformed parameter: a part number outside
	// 1..MaxPartNumber, a negative size or offset, metadata over its limit.
	ErrInvalidArgument = errors.New("vault: invalid argument") // InvalidArgument
	// ErrStorageFull reports that a store ran out of space (ENOSPC, EDQUOT).
	// Nothing visible changed.
	ErrStorageFull = errors.New("vault: storage full") // 507 / ServiceUnavailable
	// ErrStorageReadOnly reports that a store refused writes (EROFS, EACCES,
	// EPERM). Nothing visible changed.
	ErrStorageReadOnly = errors.New("vault: storage read-only") // 503 / ServiceUnavailable
)

// Limits (S3's).
const (
	MaxKeyLen       = 1024
	MaxObjectSize   = 5 << 40 // 5 TiB (multipart)
	MaxPutSize      = 5 << 30 // 5 GiB in one PUT / one part
	MinPartSize     = 5 << 20 // every part but the last
	MaxPartNumber   = 10000
	MaxTags         = 10
	MaxTagKeyLen    = 128
	MaxTagValueLen  = 256
	MaxUserMetaSize = 2 << 10 // bytes of x-amz-meta-* keys+values
)

// Keyring is what the vault needs from seal.Keyring.
type Keyring interface {
	Current() int
	NewDEK(ad []byte) (seal.DEK, []byte, error)
	UnwrapDEK(wrapped, ad []byte) (seal.DEK, error)
	RewrapDEK(wrapped, ad []byte) ([]byte, int, error)
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(sealed, ad []byte) ([]byte, error)
	Versions() []seal.KEKInfo
}

// Config wires a Service.
type Config struct {
	Meta  meta.Store
	Blobs blob.Store
	Keys  Keyring
	// Logger receives integrity failures and cleanup errors; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Scan turns on content scanning of uploads (scan.go); the zero value
	// leaves it off.
	Scan ScanConfig
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ObjectInfo describes an object version. Listing fills only Bucket, Key,
// Size, ETag and LastModified.
type ObjectInfo struct {
	Bucket       string
	Key          string
	VersionID    string
	Size         int64
	ETag         string // no quotes
	LastModified time.Time
	ContentType  string
	// Headers holds the stored standard headers by canonical name:
	// Cache-Control, Content-Disposition, Content-Encoding,
	// Content-Language, Expires.
	Headers map[string]string
	// UserMeta holds x-amz-meta-* values by lower-case name without the prefix.
	UserMeta map[string]string
	// Checksum is an optional "ALGO:base64" full-object checksum.
	Checksum   string
	PartsCount int // 0 for a single PUT
	TagCount   int
}

// PutOptions carries what a PUT or multipart create sets besides the bytes.
type PutOptions struct {
	ContentType string
	Headers     map[string]string
	UserMeta    map[string]string
	Tags        map[string]string
	// Checksum is an optional "ALGO:base64" value the caller already verified.
	Checksum string
	// ChecksumAfter, when set, is called once the body has been read to EOF
	// (so every check on it has passed); a non-empty result replaces
	// Checksum. It carries checksums that arrive in a trailer after the data.
	// PutObject honours it; multipart creation and copies ignore it.
	ChecksumAfter func() string `json:"-"`
	// IfNoneMatch makes PutObject create-only (If-None-Match: *): it fails
	// with ErrPreconditionFailed when the key exists.
	IfNoneMatch bool
	// IfMatch makes PutObject replace only the version with this ETag
	// (quotes optional): ErrPreconditionFailed on another ETag, ErrNoSuchKey
	// when there is no object. Both are checked atomically with the write.
	IfMatch string
}

// CopyOptions says what a copy keeps from its source.
type CopyOptions struct {
	ReplaceMeta bool // MetadataDirective REPLACE: use Meta's fields
	Meta        PutOptions
	ReplaceTags bool // TaggingDirective REPLACE: use Meta.Tags
}

// ListParams selects objects (ListObjects v1 and v2).
type ListParams struct {
	Prefix    string
	Delimiter string
	// After: only keys (and common prefixes) strictly greater than After.
	After   string
	MaxKeys int // 0..1000; 0 returns nothing but IsTruncated
}

// ListResult is one page of a listing, in key order. NextAfter is the last
// key or common prefix returned (the marker to continue from).
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	NextAfter      string
}

// CompletePart names a part in a CompleteMultipartUpload request.
type CompletePart struct {
	Number int
	ETag   string // with or without quotes
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number       int
	ETag         string
	Size         int64
	LastModified time.Time
}

// PartsResult is one page of ListParts.
type PartsResult struct {
	Parts       []PartInfo
	IsTruncated bool
	NextMarker  int
}

// UploadInfo describes an in-progress multipart upload.
type UploadInfo struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// UploadsParams selects multipart uploads.
type UploadsParams struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int
}

// UploadsResult is one page of ListMultipartUploads.
type UploadsResult struct {
	Uploads            []UploadInfo
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// KeyVersionStatus reports one KEK version and the DEKs it still wraps.
type KeyVersionStatus struct {
	Version int
	Created time.Time
	Current bool
	DEKs    int64
	// Sealed counts values sealed directly under this version (object and
	// upload metadata and tags, access-key secrets).
	Sealed int64
}

// Service is the object service. It is safe for concurrent use.
type Service struct {
	meta  meta.Store
	blobs blob.Store
	keys  Keyring
	log   *slog.Logger
	now   func() time.Time

	// bufs holds *[]byte copy buffers of copyBufSize.
	bufs sync.Pool

	scan     ScanConfig // with defaults
	scanBufs sync.Pool  // *[]byte of scan.ChunkSize+ScanOverlap
	queue    *scanQueue

	// minPartSize and maxPutSize are MinPartSize and MaxPutSize; tests lower
	// them to exercise the limits with small bodies.
	minPartSize int64
	maxPutSize  int64
}

// copyBufSize is the size of the pooled buffers bodies are copied through.
const copyBufSize = 1 << 20

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{
		meta:        cfg.Meta,
		blobs:       cfg.Blobs,
		keys:        cfg.Keys,
		log:         cfg.Logger,
		now:         cfg.Now,
		minPartSize: MinPartSize,
		maxPutSize:  MaxPutSize,
		scan:        cfg.Scan.withDefaults(),
	}
	s.queue = newScanQueue(s.scan.QueueSize)
	s.scanBufs.New = func() any {
		b := make([]byte, s.scan.ChunkSize+ScanOverlap)
		return &b
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any {
		b := make([]byte, copyBufSize)
		return &b
	}
	return s
}

// clock returns the current time, UTC, rounded to microseconds so it
// survives a round trip through the metadata store unchanged.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
