package cli

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fakeS3 is a small in-memory S3 endpoint for the CLI's end-to-end tests
// until the real server can be started in-process. It speaks just enough
// of S3 (path style, XML) for minio-go's calls that the CLI makes, plus the
// two admin endpoints of `coffer key`. It checks the access key but not the
// signature.
type fakeS3 struct {
	accessKey string
	// readOnlyKey is a second access key allowed only GET and HEAD.
	readOnlyKey string

	mu       sync.Mutex
	buckets  map[string]*fakeBucket
	nextID   int
	requests []string // "METHOD path?query" of every S3 request
	ranges   []string // Range headers of GETs
	// partsPut lists the part numbers received by UploadPart, in order.
	partsPut []int
	// afterPart, if set, runs (without the lock) after a part is stored.
	afterPart func(num int)

	// Admin plane state.
	keyVersion  int
	rewrapPolls int // GETs of /keys left before the rewrap finishes
	adminAuth   []string
}

type fakeBucket struct {
	created time.Time
	objects map[string]*fakeObject
	uploads map[string]*fakeUpload
}

type fakeObject struct {
	data        []byte
	etag        string
	modified    time.Time
	contentType string
	meta        map[string]string
}

type fakeUpload struct {
	key         string
	initiated   time.Time
	contentType string
	parts       map[int]*fakePart
}

type fakePart struct {
	data     []byte
	etag     string
	modified time.Time
}

func newFakeS3(accessKey string) *fakeS3 {
	return &fakeS3{accessKey: accessKey, readOnlyKey: "READONLY", buckets: map[string]*fakeBucket{}, keyVersion: 1}
}

type fakeErrorXML struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	RequestID  string `xml:"RequestId"`
}

func (f *fakeS3) fail(w http.ResponseWriter, r *http.Request, status int, code, msg, bucket, key string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = xml.NewEncoder(w).Encode(fakeErrorXML{Code: code, Message: msg, BucketName: bucket, Key: key, RequestID: "fake"})
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	_ = xml.NewEncoder(&buf).Encode(v)
	_, _ = w.Write(buf.Bytes())
}

// accessKeyOf extracts the access key from a SigV4 header or query.
func accessKeyOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		_, after, ok := strings.Cut(h, "Credential=")
		if !ok {
			return ""
		}
		cred = after
	}
	ak, _, _ := strings.Cut(cred, "/")
	return ak
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/admin/v1/") {
		f.serveAdmin(w, r)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	ak := accessKeyOf(r)
	switch {
	case ak == f.readOnlyKey && r.Method != http.MethodGet && r.Method != http.MethodHead:
		f.fail(w, r, http.StatusForbidden, "AccessDenied", "Access Denied.", "", "")
		return
	case ak != f.accessKey && ak != f.readOnlyKey:
		f.fail(w, r, http.StatusForbidden, "InvalidAccessKeyId", "The Access Key Id you provided does not exist in our records.", "", "")
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case bucket == "":
		f.listBuckets(w, r)
	case key == "":
		f.serveBucket(w, r, bucket)
	default:
		f.serveObject(w, r, bucket, key)
	}
}

func (f *fakeS3) listBuckets(w http.ResponseWriter, r *http.Request) {
	type bucket struct {
		Name         string
		CreationDate time.Time
	}
	var out struct {
		XMLName xml.Name `xml:"ListAllMyBucketsResult"`
		Owner   struct{ ID, DisplayName string }
		Buckets struct {
			Bucket []bucket
		}
	}
	f.mu.Lock()
	for name, b := range f.buckets {
		out.Buckets.Bucket = append(out.Buckets.Bucket, bucket{name, b.created})
	}
	f.mu.Unlock()
	sort.Slice(out.Buckets.Bucket, func(i, j int) bool { return out.Buckets.Bucket[i].Name < out.Buckets.Bucket[j].Name })
	writeXML(w, out)
}

func (f *fakeS3) serveBucket(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[name]
	if r.Method == http.MethodPut {
		if b != nil {
			f.fail(w, r, http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", name, "")
			return
		}
		f.buckets[name] = &fakeBucket{created: time.Now().UTC(), objects: map[string]*fakeObject{}, uploads: map[string]*fakeUpload{}}
		return
	}
	if b == nil {
		f.fail(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", name, "")
		return
	}
	switch {
	case r.Method == http.MethodHead:
	case r.Method == http.MethodDelete:
		if len(b.objects) > 0 {
			f.fail(w, r, http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty", name, "")
			return
		}
		delete(f.buckets, name)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && q.Has("location"):
		writeXML(w, struct {
			XMLName xml.Name `xml:"LocationConstraint"`
			Value   string   `xml:",chardata"`
		}{})
	case r.Method == http.MethodGet && q.Has("uploads"):
		f.listUploads(w, b, name, q)
	case r.Method == http.MethodGet:
		f.listObjects(w, b, name, q)
	case r.Method == http.MethodPost && q.Has("delete"):
		f.deleteObjects(w, r, b)
	default:
		f.fail(w, r, http.StatusNotImplemented, "NotImplemented", "not implemented by the fake", name, "")
	}
}

func (f *fakeS3) listObjects(w http.ResponseWriter, b *fakeBucket, name string, q url.Values) {
	type content struct {
		Key          string
		LastModified time.Time
		ETag         string
		Size         int64
		StorageClass string
	}
	type commonPrefix struct{ Prefix string }
	var out struct {
		XMLName        xml.Name `xml:"ListBucketResult"`
		Name           string
		Prefix         string
		KeyCount       int
		MaxKeys        int
		Delimiter      string `xml:",omitempty"`
		EncodingType   string `xml:",omitempty"`
		IsTruncated    bool
		Contents       []content
		CommonPrefixes []commonPrefix
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	enc := func(s string) string { return s }
	if q.Get("encoding-type") == "url" {
		enc = url.QueryEscape
		out.EncodingType = "url"
	}
	out.Name, out.Prefix, out.Delimiter, out.MaxKeys = name, enc(prefix), enc(delim), 1000
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := k[:len(prefix)+i+len(delim)]
				if !seen[p] {
					seen[p] = true
					out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{enc(p)})
				}
				continue
			}
		}
		o := b.objects[k]
		out.Contents = append(out.Contents, content{enc(k), o.modified, `"` + o.etag + `"`, int64(len(o.data)), "STANDARD"})
	}
	out.KeyCount = len(out.Contents) + len(out.CommonPrefixes)
	writeXML(w, out)
}

func (f *fakeS3) deleteObjects(w http.ResponseWriter, r *http.Request, b *fakeBucket) {
	var in struct {
		Quiet  bool
		Object []struct{ Key string }
	}
	if err := xml.NewDecoder(r.Body).Decode(&in); err != nil {
		f.fail(w, r, http.StatusBadRequest, "MalformedXML", err.Error(), "", "")
		return
	}
	type deleted struct{ Key string }
	var out struct {
		XMLName xml.Name `xml:"DeleteResult"`
		Deleted []deleted
	}
	for _, o := range in.Object {
		delete(b.objects, o.Key)
		if !in.Quiet {
			out.Deleted = append(out.Deleted, deleted{o.Key})
		}
	}
	writeXML(w, out)
}

func (f *fakeS3) listUploads(w http.ResponseWriter, b *fakeBucket, name string, q url.Values) {
	type upload struct {
		Key          string
		UploadID     string `xml:"UploadId"`
		Initiated    time.Time
		StorageClass string
	}
	var out struct {
		XMLName     xml.Name `xml:"ListMultipartUploadsResult"`
		Bucket      string
		Prefix      string
		MaxUploads  int
		IsTruncated bool
		Upload      []upload
	}
	out.Bucket, out.Prefix, out.MaxUploads = name, q.Get("prefix"), 1000
	for id, u := range b.uploads {
		if strings.HasPrefix(u.key, q.Get("prefix")) {
			out.Upload = append(out.Upload, upload{u.key, id, u.initiated, "STANDARD"})
		}
	}
	sort.Slice(out.Upload, func(i, j int) bool {
		return out.Upload[i].Key+out.Upload[i].UploadID < out.Upload[j].Key+out.Upload[j].UploadID
	})
	writeXML(w, out)
}

func (f *fakeS3) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	q := r.URL.Query()
	if r.Method == http.MethodPut && q.Has("partNumber") {
		f.uploadPart(w, r, bucket, key, q)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[bucket]
	if b == nil {
		f.fail(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", bucket, key)
		return
	}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.nextID++
		id := fmt.Sprintf("upload-%d", f.nextID)
		b.uploads[id] = &fakeUpload{key: key, initiated: time.Now().UTC(), contentType: r.Header.Get("Content-Type"), parts: map[int]*fakePart{}}
		writeXML(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string
			Key      string
			UploadID string `xml:"UploadId"`
		}{Bucket: bucket, Key: key, UploadID: id})
	case r.Method == http.MethodGet && q.Has("uploadId"):
		u := b.uploads[q.Get("uploadId")]
		if u == nil || u.key != key {
			f.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.", bucket, key)
			return
		}
		type part struct {
			PartNumber   int
			LastModified time.Time
			ETag         string
			Size         int64
		}
		var out struct {
			XMLName     xml.Name `xml:"ListPartsResult"`
			Bucket      string
			Key         string
			UploadID    string `xml:"UploadId"`
			MaxParts    int
			IsTruncated bool
			Part        []part
		}
		out.Bucket, out.Key, out.UploadID, out.MaxParts = bucket, key, q.Get("uploadId"), 1000
		for n, p := range u.parts {
			out.Part = append(out.Part, part{n, p.modified, `"` + p.etag + `"`, int64(len(p.data))})
		}
		sort.Slice(out.Part, func(i, j int) bool { return out.Part[i].PartNumber < out.Part[j].PartNumber })
		writeXML(w, out)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		f.completeUpload(w, r, b, bucket, key, q.Get("uploadId"))
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		if u := b.uploads[q.Get("uploadId")]; u == nil || u.key != key {
			f.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.", bucket, key)
			return
		}
		delete(b.uploads, q.Get("uploadId"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			f.fail(w, r, http.StatusBadRequest, "IncompleteBody", err.Error(), bucket, key)
			return
		}
		if !f.checkMD5(w, r, data) {
			return
		}
		meta := map[string]string{}
		for k, v := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
				meta[k] = v[0]
			}
		}
		o := &fakeObject{data: data, etag: md5Hex(data), modified: time.Now().UTC(), contentType: r.Header.Get("Content-Type"), meta: meta}
		b.objects[key] = o
		w.Header().Set("ETag", `"`+o.etag+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		o := b.objects[key]
		if o == nil {
			f.fail(w, r, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", bucket, key)
			return
		}
		if m := r.Header.Get("If-Match"); m != "" && strings.Trim(m, `"`) != o.etag {
			f.fail(w, r, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", bucket, key)
			return
		}
		h := w.Header()
		h.Set("ETag", `"`+o.etag+`"`)
		h.Set("Last-Modified", o.modified.Format(http.TimeFormat))
		h.Set("Content-Type", o.contentType)
		h.Set("X-Amz-Server-Side-Encryption", "AES256")
		h.Set("Accept-Ranges", "bytes")
		for k, v := range o.meta {
			h.Set(k, v)
		}
		data := o.data
		status := http.StatusOK
		if rg := r.Header.Get("Range"); rg != "" && r.Method == http.MethodGet {
			f.ranges = append(f.ranges, rg)
			var start int64
			if _, err := fmt.Sscanf(rg, "bytes=%d-", &start); err != nil || start >= int64(len(data)) {
				f.fail(w, r, http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable", bucket, key)
				return
			}
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			data = data[start:]
			status = http.StatusPartialContent
		}
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(status)
		if r.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	case r.Method == http.MethodDelete:
		delete(b.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.fail(w, r, http.StatusNotImplemented, "NotImplemented", "not implemented by the fake", bucket, key)
	}
}

// checkMD5 verifies a Content-MD5 header, if any.
func (f *fakeS3) checkMD5(w http.ResponseWriter, r *http.Request, data []byte) bool {
	want := r.Header.Get("Content-Md5")
	if want == "" {
		return true
	}
	sum := md5.Sum(data)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != want {
		f.fail(w, r, http.StatusBadRequest, "BadDigest", "The Content-MD5 you specified did not match what we received.", "", "")
		return false
	}
	return true
}

func (f *fakeS3) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string, q url.Values) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		f.fail(w, r, http.StatusBadRequest, "IncompleteBody", err.Error(), bucket, key)
		return
	}
	num, _ := strconv.Atoi(q.Get("partNumber"))
	f.mu.Lock()
	b := f.buckets[bucket]
	var u *fakeUpload
	if b != nil {
		u = b.uploads[q.Get("uploadId")]
	}
	if u == nil || u.key != key {
		f.mu.Unlock()
		f.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.", bucket, key)
		return
	}
	if !f.checkMD5(w, r, data) {
		f.mu.Unlock()
		return
	}
	p := &fakePart{data: data, etag: md5Hex(data), modified: time.Now().UTC()}
	u.parts[num] = p
	f.partsPut = append(f.partsPut, num)
	hook := f.afterPart
	f.mu.Unlock()
	w.Header().Set("ETag", `"`+p.etag+`"`)
	w.WriteHeader(http.StatusOK)
	if hook != nil {
		hook(num)
	}
}

func (f *fakeS3) completeUpload(w http.ResponseWriter, r *http.Request, b *fakeBucket, bucket, key, id string) {
	u := b.uploads[id]
	if u == nil || u.key != key {
		f.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.", bucket, key)
		return
	}
	var in struct {
		Part []struct {
			PartNumber int
			ETag       string
		}
	}
	if err := xml.NewDecoder(r.Body).Decode(&in); err != nil {
		f.fail(w, r, http.StatusBadRequest, "MalformedXML", err.Error(), bucket, key)
		return
	}
	var data, sums []byte
	for i, cp := range in.Part {
		p := u.parts[cp.PartNumber]
		if p == nil || strings.Trim(cp.ETag, `"`) != p.etag {
			f.fail(w, r, http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found.", bucket, key)
			return
		}
		if i > 0 && cp.PartNumber <= in.Part[i-1].PartNumber {
			f.fail(w, r, http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order.", bucket, key)
			return
		}
		if i < len(in.Part)-1 && len(p.data) < 5<<20 {
			f.fail(w, r, http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", bucket, key)
			return
		}
		data = append(data, p.data...)
		s := md5.Sum(p.data)
		sums = append(sums, s[:]...)
	}
	etag := fmt.Sprintf("%s-%d", md5Hex(sums), len(in.Part))
	b.objects[key] = &fakeObject{data: data, etag: etag, modified: time.Now().UTC(), contentType: u.contentType, meta: map[string]string{}}
	delete(b.uploads, id)
	writeXML(w, struct {
		XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
		Bucket  string
		Key     string
		ETag    string
	}{Bucket: bucket, Key: key, ETag: `"` + etag + `"`})
}

// serveAdmin implements GET /admin/v1/keys and POST /admin/v1/keys/rotate.
func (f *fakeS3) serveAdmin(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	f.adminAuth = append(f.adminAuth, auth)
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	ak := accessKeyOf(r)
	switch {
	case !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || r.Header.Get("X-Amz-Date") == "" || r.Header.Get("X-Amz-Content-Sha256") == "":
		fail(http.StatusForbidden, "AccessDenied", "request is not signed")
		return
	case ak == f.readOnlyKey:
		fail(http.StatusForbidden, "AccessDenied", "user READONLY may not manage keys")
		return
	case ak != f.accessKey:
		fail(http.StatusForbidden, "InvalidAccessKeyId", "unknown access key")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/admin/v1/keys/rotate":
		f.keyVersion++
		f.rewrapPolls = 2
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]int{"version": f.keyVersion})
	case r.Method == http.MethodGet && r.URL.Path == "/admin/v1/keys":
		created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		var versions []keyVersion
		running := f.rewrapPolls > 0
		for v := 1; v <= f.keyVersion; v++ {
			deks := int64(0)
			if v == f.keyVersion {
				deks = 10
			} else if running {
				deks = int64(f.rewrapPolls)
			}
			versions = append(versions, keyVersion{Version: v, Created: created.Add(time.Duration(v) * time.Hour), Current: v == f.keyVersion, DEKs: deks})
		}
		st := keyStatus{Current: f.keyVersion, Versions: versions, Rewrap: rewrapProgress{Running: running, Done: int64(10 - f.rewrapPolls), Remaining: int64(f.rewrapPolls)}}
		if f.rewrapPolls > 0 {
			f.rewrapPolls--
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	default:
		fail(http.StatusNotFound, "NotFound", "no such admin endpoint")
	}
}
