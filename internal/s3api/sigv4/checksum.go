package sigv4

// This file knows S3's additional checksums, sent as x-amz-checksum-<algo>
// headers or trailers: the standard base64 of the big-endian digest of the
// decoded payload.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/minio/crc64nvme"
)

// checksumAlgo is one S3 additional checksum algorithm.
type checksumAlgo struct {
	name string // S3's spelling, e.g. "CRC32C"
	size int    // digest length in bytes
	new  func() hash.Hash
}

// header returns the header (and trailer) name carrying the checksum.
func (a *checksumAlgo) header() string {
	return "x-amz-checksum-" + strings.ToLower(a.name)
}

// checksumAlgos returns the supported algorithms, in a fixed order.
func checksumAlgos() []*checksumAlgo {
	return []*checksumAlgo{
		{name: "CRC32", size: crc32.Size, new: func() hash.Hash { return crc32.NewIEEE() }},
		{name: "CRC32C", size: crc32.Size, new: func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }},
		{name: "CRC64NVME", size: 8, new: func() hash.Hash { return crc64nvme.New() }},
		{name: "SHA1", size: sha1.Size, new: sha1.New},
		{name: "SHA256", size: sha256.Size, new: sha256.New},
	}
}

// checksumByHeader returns the algorithm whose header is name (lowercase).
func checksumByHeader(name string) (*checksumAlgo, bool) {
	for _, a := range checksumAlgos() {
		if a.header() == name {
			return a, true
		}
	}
	return nil, false
}

// decodeChecksum decodes a base64 checksum value of algorithm a.
func decodeChecksum(a *checksumAlgo, v string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) != a.size {
		return nil, false
	}
	return b, true
}
