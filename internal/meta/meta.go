// Package meta owns Coffer's metadata: buckets, object versions and the
// sealed segments they are made of, multipart uploads, access keys and the
// wrapped key-encryption keys of the keyring.
//
// The package defines the Store interface and the record types; each
// implementation lives in its own folder (sqlite is the embedded default,
// postgres arrives at scale) and must pass the shared conformance suite in
// metatest. Secrets never reach this package in plaintext: callers hand it
// sealed bytes (wrapped DEKs, sealed user metadata, sealed secret keys).
package meta

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-vault/coffer/internal/seal"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	ErrNoSuchBucket    = errors.New("meta: no such bucket")
	ErrBucketExists    = errors.New("meta: bucket already exists")
	ErrBucketNotEmpty  = errors.New("meta: bucket not empty")
	ErrNoSuchObject    = errors.New("meta: no such object")
	ErrNoSuchUpload    = errors.New("meta: no such upload")
	ErrNoSuchAccessKey = errors.New("meta: no such access key")
	ErrExists          = errors.New("meta: already exists")
	// ErrConflict reports a compare-and-swap that lost: the row changed or vanished.
	ErrConflict = errors.New("meta: concurrent modification")
	// ErrPrecondition reports a conditional write whose condition is false.
	ErrPrecondition = errors.New("meta: precondition failed")
)

// Bucket is one bucket.
type Bucket struct {
	Name    string
	Created time.Time
}

// Segment is one independently sealed piece of an object's data: the whole
// object for a single PUT, one part for a multipart upload. Each segment has
// its own data key (DEK), stored only wrapped by a KEK version.
type Segment struct {
	// Number is the part number (1 for a single PUT).
	Number int
	// BlobID names the ciphertext in the blob store. It is unique per DEK and
	// is the associated data the DEK is wrapped with.
	BlobID string
	// Size is the plaintext size in bytes.
	Size int64
	// ETag is the hex MD5 of the segment's plaintext (no quotes).
	ETag string
	// WrappedDEK is the data key wrapped by KEK version KEKVersion.
	WrappedDEK []byte
	KEKVersion int
	// Binding is the version id the segment's ciphertext is bound to (the
	// object version id for a single PUT, the upload id for a multipart part).
	Binding string
	// Created is when the segment was written.
	Created time.Time
}

// Object is the current version of one object.
type Object struct {
	Bucket    string
	Key       string
	VersionID string
	// Size is the total plaintext size.
	Size int64
	// ETag as S3 reports it, without quotes: hex MD5 for a single PUT,
	// "md5-of-md5s-N" for multipart.
	ETag         string
	LastModified time.Time
	// Meta is sealed by the caller: content type, standard headers, x-amz-meta-*.
	Meta []byte
	// Tags is sealed by the caller; nil when there are no tags.
	Tags []byte
	// Checksum is an optional "ALGO:base64" full-object checksum (e.g. "CRC32:...").
	Checksum string
	Segments []Segment
	// Scan, when set, is recorded with the version in the same transaction
	// (the upload was scanned as it streamed in). Nil leaves the version
	// unscanned: ListUnscanned reports it until SetObjectScan records one.
	// GetObject does not fill it; GetObjectScan reads it.
	Scan *ObjectScan
}

// Label is one type of finding in an object version. Type is the scan
// engine's finding type ("secret:aws_access_key", "pii:iban"); the finding
// values themselves are never stored.
type Label struct {
	Type string `json:"type"`
	// Confidence is the highest scan.Confidence of the type's findings
	// (1 VERY_UNLIKELY ... 5 VERY_LIKELY).
	Confidence int `json:"confidence"`
	// Count is how many findings of the type the version holds.
	Count int `json:"count"`
	// Line (1-based) and Offset (bytes from the start of the object) place
	// the first finding of the type.
	Line   int   `json:"line"`
	Offset int64 `json:"offset"`
}

// ObjectScan is the scan state of an object version.
type ObjectScan struct {
	VersionID string
	// Size is the version's size (GetObjectScan fills it; writes ignore it).
	Size int64
	// Scanned is when the scan finished; zero while the version is unscanned.
	Scanned time.Time
	// Labels are sorted by Type; empty when nothing was found.
	Labels []Label
}

// ScanJob names an object version that has no scan record (ListUnscanned).
// Seq orders the jobs; pass the last one seen to continue.
type ScanJob struct {
	Seq       int64
	Bucket    string
	Key       string
	VersionID string
	Size      int64
}

// BucketScan is a bucket's scan settings.
type BucketScan struct {
	// Reject lists finding classes ("secret", "pii") or types
	// ("secret:aws_access_key") that refuse an upload; empty refuses nothing.
	Reject []string
	// MinConfidence is the scan.Confidence a finding needs to refuse an
	// upload; 0 means the default (LIKELY).
	MinConfidence int
}

// Precondition makes a write conditional on the current version, checked in
// the same transaction as the write (S3 conditional writes).
type Precondition struct {
	// IfNoneMatch: only if no object exists under the key (If-None-Match: *).
	IfNoneMatch bool
	// IfMatch: only if the current object's ETag is this (without quotes);
	// ErrNoSuchObject when there is none.
	IfMatch string
}

// Upload is an in-progress multipart upload.
type Upload struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	// Meta is sealed by the caller (the metadata the completed object will get).
	Meta []byte
	Tags []byte
}

// ListOptions selects objects in key order (byte-wise).
type ListOptions struct {
	Prefix string
	// After: only keys strictly greater than After.
	After string
	// Limit is the maximum number of objects returned; at least 1.
	Limit int
}

// UploadListOptions selects multipart uploads ordered by (key, initiated, id).
type UploadListOptions struct {
	Prefix         string
	KeyMarker      string
	UploadIDMarker string
	Limit          int
}

// AccessKey is an S3 access key. SealedSecret is the secret sealed by the keyring.
type AccessKey struct {
	ID           string
	SealedSecret []byte
	Owner        string
	Created      time.Time
	// Expires is zero for a key that does not expire.
	Expires time.Time
	// MFAAt is when the MFA proof of the session that minted the key was
	// given (`coffer key create --mfa`); zero for keys without one.
	MFAAt time.Time
	// LastUsed is when the key last authenticated a request, to within the
	// server's write throttle (about a minute); zero if never.
	LastUsed time.Time
	// Policy is an optional inline policy document (JSON) that narrows the
	// owner's rights for requests made with this key; "" for none.
	Policy string
}

// StoredKEK is one key-encryption-key version wrapped by the root key. It is
// seal's record type, so a Store is itself a seal.KEKStore.
type StoredKEK = seal.StoredKEK

// DEKRef points at one wrapped data key wherever it lives (an object segment
// or a multipart part).
type DEKRef struct {
	BlobID     string
	WrappedDEK []byte
	KEKVersion int
}

// SealedKind names a kind of value sealed directly under a KEK (rather than
// under a DEK): rotation must reseal these too before an old KEK version
// protects nothing.
type SealedKind int

// The sealed values the store keeps.
const (
	SealedObjectMeta SealedKind = iota + 1
	SealedObjectTags
	SealedUploadMeta
	SealedUploadTags
	SealedAccessKey
)

// SealedRef is one sealed value and where it lives. ID is the object's
// version id, the upload id or the access key id.
type SealedRef struct {
	Kind   SealedKind
	Bucket string
	Key    string
	ID     string
	Value  []byte
}

// User is a local user. Secrets arrive hashed (PasswordHash, an argon2id PHC
// string; Recovery, the caller's encoding of recovery-code hashes) or sealed
// (TOTPSecret).
type User struct {
	Name         string
	PasswordHash string
	TOTPSecret   []byte // sealed; nil until MFA enrolment
	TOTPLastStep int64  // last accepted TOTP time step (replay refusal)
	Recovery     []byte
	Roles        []string
	Groups       []string
	Failures     int
	LastFailure  time.Time
	LockedUntil  time.Time
	Created      time.Time
}

// Session is an admin-plane session; the token itself is never stored.
type Session struct {
	Hash     []byte
	User     string
	Created  time.Time
	LastSeen time.Time
	MFAAt    time.Time // zero without an MFA proof
}

// ErrNoSuchUser and ErrNoSuchSession are returned for missing rows.
var (
	ErrNoSuchUser    = errors.New("meta: no such user")
	ErrNoSuchSession = errors.New("meta: no such session")
)

// ErrNoSuchPolicy, ErrNoSuchRole and ErrNoSuchGroup are returned when
// deleting a policy, role or group that is not stored.
var (
	ErrNoSuchPolicy = errors.New("meta: no such policy")
	ErrNoSuchRole   = errors.New("meta: no such role")
	ErrNoSuchGroup  = errors.New("meta: no such group")
)

// PolicyDoc is an administrator-defined policy document (JSON, validated by
// package policy before it is stored).
type PolicyDoc struct {
	Name     string
	Document string
}

// RoleDef is an administrator-defined role.
type RoleDef struct {
	Name       string
	Policies   []string
	MFAAtLogin bool
}

// Group gives its members roles.
type Group struct {
	Name  string
	Roles []string
}

// AuditIndexRecord is one audit ledger entry in the search index. The
// ledger stays the source of truth: a search result carries the entry's
// Index so the caller can fetch the full event and its inclusion proof.
type AuditIndexRecord struct {
	Index     int64
	Time      time.Time
	Actor     string // the actor's user name, "" for anonymous and system events
	AccessKey string
	Action    string // e.g. "s3:GetObject"
	// Resource is "bucket/key" for an object, "bucket" for a bucket, or the
	// administrative object ("user:alice").
	Resource string
	Outcome  string // allowed, denied or error
	SourceIP string
}

// DefaultAuditLimit and MaxAuditLimit bound AuditQuery.Limit.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery selects audit index records. Zero fields do not filter.
type AuditQuery struct {
	Actor string
	// Action matches exactly, or, ending in '*', as a prefix ("s3:*").
	Action string
	// ResourcePrefix matches resources that start with it (bytewise).
	ResourcePrefix string
	Outcome        string
	// Since (inclusive) and Until (exclusive) bound the event time.
	Since, Until time.Time
	// FromIndex (inclusive) and BeforeIndex (exclusive, if > 0) bound the
	// ledger index; they page through results: the next page of an
	// ascending search starts at FromIndex = last Index + 1, of a Newest
	// one at BeforeIndex = last Index.
	FromIndex   int64
	BeforeIndex int64
	// Newest returns the newest entries first; default oldest first.
	Newest bool
	// Limit is at most MaxAuditLimit; 0 means DefaultAuditLimit.
	Limit int
}

// Store is the metadata store. All methods are safe for concurrent use. A
// method that returns nil has made its change durable (fsynced).
type Store interface {
	CreateBucket(ctx context.Context, b Bucket) error // ErrBucketExists
	GetBucket(ctx context.Context, name string) (Bucket, error)
	ListBuckets(ctx context.Context) ([]Bucket, error)
	// DeleteBucket removes an empty bucket (ErrBucketNotEmpty if any object
	// exists). Its in-progress multipart uploads are removed with it; their
	// segments are returned so the caller can delete the blobs.
	DeleteBucket(ctx context.Context, name string) ([]Segment, error)

	// PutObject makes o the current version of (o.Bucket, o.Key), atomically
	// replacing any previous one, which it returns (nil if none).
	// ErrNoSuchBucket if the bucket is gone.
	PutObject(ctx context.Context, o Object) (replaced *Object, err error)
	// PutObjectIf is PutObject when c holds (ErrPrecondition otherwise).
	PutObjectIf(ctx context.Context, o Object, c Precondition) (replaced *Object, err error)
	GetObject(ctx context.Context, bucket, key string) (Object, error) // ErrNoSuchObject
	// DeleteObject removes the object and returns what was removed.
	DeleteObject(ctx context.Context, bucket, key string) (Object, error)
	// ListObjects returns up to opts.Limit objects (Segments may be left
	// empty) and whether more follow.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) ([]Object, bool, error)
	// SetTags replaces the sealed tags of the current version if it is
	// still versionID (nil clears); ErrConflict if another version has
	// replaced it meanwhile.
	SetTags(ctx context.Context, bucket, key, versionID string, tags []byte) error

	CreateUpload(ctx context.Context, u Upload) error
	GetUpload(ctx context.Context, bucket, key, uploadID string) (Upload, error) // ErrNoSuchUpload
	ListUploads(ctx context.Context, bucket string, opts UploadListOptions) ([]Upload, bool, error)
	// PutPart records a part (s.Number is the part number) and returns the part
	// it replaced, if any.
	PutPart(ctx context.Context, uploadID string, s Segment) (replaced *Segment, err error)
	// ListParts returns parts with number > after, in order, up to limit.
	ListParts(ctx context.Context, uploadID string, after, limit int) ([]Segment, bool, error)
	// CompleteUpload atomically removes the upload and its part rows and puts
	// o as the current object. It returns the replaced object (if any) and
	// the parts of the upload not used by o (to delete their blobs).
	CompleteUpload(ctx context.Context, uploadID string, o Object) (replaced *Object, unused []Segment, err error)
	// AbortUpload removes the upload and returns its parts.
	AbortUpload(ctx context.Context, uploadID string) ([]Segment, error)

	PutAccessKey(ctx context.Context, k AccessKey) error // ErrExists
	GetAccessKey(ctx context.Context, id string) (AccessKey, error)
	ListAccessKeys(ctx context.Context) ([]AccessKey, error)
	DeleteAccessKey(ctx context.Context, id string) error
	// SetAccessKeyOwner moves every key of owner from to owner to.
	SetAccessKeyOwner(ctx context.Context, from, to string) (int, error)
	// TouchAccessKey sets the key's LastUsed (ErrNoSuchAccessKey if absent).
	TouchAccessKey(ctx context.Context, id string, lastUsed time.Time) error

	CreateUser(ctx context.Context, u User) error // ErrExists
	GetUser(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser runs fn on the stored user inside one write transaction
	// and stores what fn leaves (a read-modify-write without lost updates);
	// an error from fn aborts and is returned.
	UpdateUser(ctx context.Context, name string, fn func(*User) error) error
	// DeleteUser removes the user and all their sessions.
	DeleteUser(ctx context.Context, name string) error

	PutSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, hash []byte) (Session, error)
	// TouchSession sets LastSeen (and MFAAt when not zero).
	TouchSession(ctx context.Context, hash []byte, lastSeen, mfaAt time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	// ListSessions returns a user's sessions, oldest first.
	ListSessions(ctx context.Context, user string) ([]Session, error)
	// DeleteUserSessions revokes every session of a user.
	DeleteUserSessions(ctx context.Context, user string) (int, error)

	// PutPolicyDoc creates or replaces a policy; PutRoleDef a role.
	PutPolicyDoc(ctx context.Context, p PolicyDoc) error
	ListPolicyDocs(ctx context.Context) ([]PolicyDoc, error)
	PutRoleDef(ctx context.Context, r RoleDef) error
	ListRoleDefs(ctx context.Context) ([]RoleDef, error)
	// DeletePolicyDoc and DeleteRoleDef remove a stored policy or role
	// (ErrNoSuchPolicy, ErrNoSuchRole if absent); the caller checks that
	// nothing still refers to it.
	DeletePolicyDoc(ctx context.Context, name string) error
	DeleteRoleDef(ctx context.Context, name string) error

	// PutGroup creates or replaces a group.
	PutGroup(ctx context.Context, g Group) error
	ListGroups(ctx context.Context) ([]Group, error)
	// DeleteGroup removes a group (ErrNoSuchGroup if absent); members'
	// Groups lists are left to the caller.
	DeleteGroup(ctx context.Context, name string) error

	ListKEKs(ctx context.Context) ([]StoredKEK, error)
	PutKEK(ctx context.Context, k StoredKEK) error // ErrExists if the version is taken

	// ListDEKs returns up to limit wrapped DEKs whose KEK version is below
	// version, from objects and multipart parts alike.
	ListDEKs(ctx context.Context, belowVersion, limit int) ([]DEKRef, error)
	// UpdateDEK swaps the wrapped DEK of blobID from old to new (compare and
	// swap on the old bytes); ErrConflict when it no longer holds old.
	UpdateDEK(ctx context.Context, blobID string, old, new []byte, newVersion int) error
	// CountDEKs returns how many DEKs each KEK version wraps.
	CountDEKs(ctx context.Context) (map[int]int64, error)
	// ListSealed returns up to limit sealed values of the given kinds whose
	// KEK version (the big-endian uint32 they start with) is below version.
	ListSealed(ctx context.Context, kinds []SealedKind, belowVersion, limit int) ([]SealedRef, error)
	// UpdateSealed replaces ref.Value with value (compare and swap on
	// ref.Value); ErrConflict when the row no longer holds ref.Value.
	UpdateSealed(ctx context.Context, ref SealedRef, value []byte) error
	// CountSealed returns how many sealed values each KEK version protects.
	CountSealed(ctx context.Context) (map[int]int64, error)
	// BlobIDs calls fn for every blob id referenced by an object or a part.
	BlobIDs(ctx context.Context, fn func(id string) error) error

	// IndexAuditEvents adds records to the audit search index, replacing
	// any with the same Index, so indexing a record again (after a crash)
	// is harmless.
	IndexAuditEvents(ctx context.Context, recs []AuditIndexRecord) error
	// SearchAudit returns the records q selects, ordered by Index
	// (ascending, or descending with q.Newest), at most q.Limit of them.
	SearchAudit(ctx context.Context, q AuditQuery) ([]AuditIndexRecord, error)
	// DeleteAuditActor removes every index record whose Actor is user and
	// returns how many: when a data subject is erased from the ledger, the
	// index must not keep what the ledger can no longer reveal.
	DeleteAuditActor(ctx context.Context, user string) (int64, error)
	// GetObjectScan returns the scan state of the current version of
	// (bucket, key): Scanned is zero when it has not been scanned yet.
	// ErrNoSuchObject (or ErrNoSuchBucket) when there is no object.
	GetObjectScan(ctx context.Context, bucket, key string) (ObjectScan, error)
	// SetObjectScan records sc for the current version if it is still
	// sc.VersionID, replacing any earlier record; ErrConflict when another
	// version has replaced it meanwhile.
	SetObjectScan(ctx context.Context, bucket, key string, sc ObjectScan) error
	// ListUnscanned returns up to limit current versions without a scan
	// record, with Seq above after, in Seq order.
	ListUnscanned(ctx context.Context, after int64, limit int) ([]ScanJob, error)
	// PutBucketScan replaces a bucket's scan settings (the zero value clears
	// them); GetBucketScan returns them (the zero value when none are set).
	// Both return ErrNoSuchBucket for a missing bucket.
	PutBucketScan(ctx context.Context, bucket string, bs BucketScan) error
	GetBucketScan(ctx context.Context, bucket string) (BucketScan, error)

	Close() error
}
