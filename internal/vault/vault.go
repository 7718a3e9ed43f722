// Package vault is the object service: buckets, objects, multipart uploads
// and tags, with plaintext in and plaintext out. It validates names, seals
// every byte through package seal before it reaches the blob store, keeps
// metadata in the meta store, and destroys an object's wrapped data keys when
// the object goes (crypto-shredding). It knows nothing of HTTP or S3 wire
// formats; package s3api translates.
package vault

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/coffer-vault/coffer/internal/blob"
	"github.com/coffer-vault/coffer/internal/meta"
	"github.com/coffer-vault/coffer/internal/seal"
)

// Sentinel errors; s3api maps each to its S3 error code.
var (
	ErrInvalidBucketName = errors.New("vault: invalid bucket name")                        // InvalidBucketName
	ErrNoSuchBucket      = errors.New("vault: no such bucket")                             // NoSuchBucket
	ErrBucketExists      = errors.New("vault: bucket already exists")                      // BucketAlreadyOwnedByYou
	ErrBucketNotEmpty    = errors.New("vault: bucket not empty")                           // BucketNotEmpty
	ErrNoSuchKey         = errors.New("vault: no such key")                                // NoSuchKey
	ErrKeyTooLong        = errors.New("vault: key longer than 1024 bytes")                 // KeyTooLongError
	ErrInvalidKey        = errors.New("vault: invalid object key")                         // InvalidArgument
	ErrNoSuchUpload      = errors.New("vault: no such upload")                             // NoSuchUpload
	ErrInvalidPart       = errors.New("vault: invalid part")                               // InvalidPart
	ErrInvalidPartOrder  = errors.New("vault: parts not in ascending order")               // InvalidPartOrder
	ErrEntityTooSmall    = errors.New("vault: part smaller than 5 MiB")                    // EntityTooSmall
	ErrEntityTooLarge    = errors.New("vault: entity too large")                           // EntityTooLarge
	ErrIncompleteBody    = errors.New("vault: body shorter than its declared size")        // IncompleteBody
	ErrInvalidTag        = errors.New("vault: invalid tag")                                // InvalidTag
	ErrInvalidCopy       = errors.New("vault: copy onto itself without changing anything") // InvalidRequest
	// ErrIntegrity wraps seal.ErrIntegrity: stored data failed authentication.
	ErrIntegrity = seal.ErrIntegrity // InternalError (never wrong bytes)
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
}

// Service is the object service. It is safe for concurrent use.
type Service struct{}

// New returns a Service.
func New(cfg Config) *Service { panic("not implemented") }

// ValidBucketName returns nil or an error wrapping ErrInvalidBucketName.
func ValidBucketName(name string) error { panic("not implemented") }

// ValidObjectKey returns nil or an error wrapping ErrKeyTooLong or ErrInvalidKey
// (empty, invalid UTF-8, a NUL byte, or a "." or ".." path segment).
func ValidObjectKey(key string) error { panic("not implemented") }

func (s *Service) CreateBucket(ctx context.Context, name string) error { panic("not implemented") }
func (s *Service) HeadBucket(ctx context.Context, name string) (BucketInfo, error) {
	panic("not implemented")
}
func (s *Service) ListBuckets(ctx context.Context) ([]BucketInfo, error) { panic("not implemented") }
func (s *Service) DeleteBucket(ctx context.Context, name string) error   { panic("not implemented") }

// PutObject stores body (exactly size bytes; size -1 reads to EOF) as the
// new current version. A read error from body (for example a failed digest
// check at EOF) aborts the write and is returned wrapped; nothing changes.
func (s *Service) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	panic("not implemented")
}

// OpenObject returns a handle on the current version.
func (s *Service) OpenObject(ctx context.Context, bucket, key string) (*Reader, error) {
	panic("not implemented")
}

// DeleteObject removes an object and shreds its keys. Deleting a missing key
// in an existing bucket succeeds.
func (s *Service) DeleteObject(ctx context.Context, bucket, key string) error {
	panic("not implemented")
}

func (s *Service) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string, opts CopyOptions) (ObjectInfo, error) {
	panic("not implemented")
}

func (s *Service) ListObjects(ctx context.Context, bucket string, p ListParams) (ListResult, error) {
	panic("not implemented")
}

func (s *Service) GetTags(ctx context.Context, bucket, key string) (map[string]string, error) {
	panic("not implemented")
}
func (s *Service) PutTags(ctx context.Context, bucket, key string, tags map[string]string) error {
	panic("not implemented")
}
func (s *Service) DeleteTags(ctx context.Context, bucket, key string) error {
	panic("not implemented")
}

func (s *Service) CreateMultipartUpload(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	panic("not implemented")
}
func (s *Service) UploadPart(ctx context.Context, bucket, key, uploadID string, part int, body io.Reader, size int64) (PartInfo, error) {
	panic("not implemented")
}
func (s *Service) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	panic("not implemented")
}
func (s *Service) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	panic("not implemented")
}
func (s *Service) ListParts(ctx context.Context, bucket, key, uploadID string, marker, maxParts int) (PartsResult, error) {
	panic("not implemented")
}
func (s *Service) ListMultipartUploads(ctx context.Context, bucket string, p UploadsParams) (UploadsResult, error) {
	panic("not implemented")
}

// Recover runs at start before serving: it sweeps temporary blob files and
// deletes committed blobs no metadata references (a crash between blob
// commit and metadata commit). It returns how many orphans it removed.
func (s *Service) Recover(ctx context.Context) (int, error) { panic("not implemented") }

// RewrapDEKs rewraps every DEK under an older KEK version with the current
// one, batch by batch; progress (if non-nil) is called after each batch with
// the running total. It is resumable: a later call continues where an
// interrupted one stopped. It returns how many DEKs it rewrapped.
func (s *Service) RewrapDEKs(ctx context.Context, batch int, progress func(done int)) (int, error) {
	panic("not implemented")
}

// KeyStatus lists KEK versions and how many DEKs each wraps.
func (s *Service) KeyStatus(ctx context.Context) ([]KeyVersionStatus, error) {
	panic("not implemented")
}

// Reader is an open object version.
type Reader struct{}

// Info describes the version.
func (r *Reader) Info() ObjectInfo { panic("not implemented") }

// Range returns plaintext bytes [off, off+length), decrypting only the
// packages that cover them. The caller has validated the range.
func (r *Reader) Range(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	panic("not implemented")
}

// Close releases the handle.
func (r *Reader) Close() error { panic("not implemented") }
