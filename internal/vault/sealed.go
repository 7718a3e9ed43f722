package vault

// Sealed records. An object's metadata (content type, standard headers,
// x-amz-meta-* values, full-object checksum) and its tags are stored in the
// meta store only as JSON sealed by the keyring. The associated data names
// the bucket, the key, the version and the purpose, so a sealed record copied
// onto another object, another version or the other purpose fails to open.

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Purposes a record is sealed for.
const (
	purposeMeta = "meta"
	purposeTags = "tags"
)

// recordAD is the associated data of a sealed record. Its fields are joined
// by NUL, which none of them can contain (bucket names and ids are ASCII;
// valid keys have no NUL), so the encoding is unambiguous.
func recordAD(purpose, bucket, key, version string) []byte {
	return []byte(strings.Join([]string{"coffer/vault/v1", purpose, bucket, key, version}, "\x00"))
}

// objectMeta is the JSON form of sealed object metadata.
type objectMeta struct {
	ContentType string            `json:"ct,omitempty"`
	Headers     map[string]string `json:"h,omitempty"`
	UserMeta    map[string]string `json:"um,omitempty"`
	Checksum    string            `json:"ck,omitempty"`
}

func metaFromOptions(o PutOptions) objectMeta {
	return objectMeta{ContentType: o.ContentType, Headers: o.Headers, UserMeta: o.UserMeta, Checksum: o.Checksum}
}

// sealMeta seals m for (bucket, key, version).
func (s *Service) sealMeta(m objectMeta, bucket, key, version string) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	sealed, err := s.keys.Seal(js, recordAD(purposeMeta, bucket, key, version))
	if err != nil {
		return nil, fmt.Errorf("seal metadata: %w", err)
	}
	return sealed, nil
}

// openMeta opens what sealMeta produced; a failure wraps ErrIntegrity.
func (s *Service) openMeta(sealed []byte, bucket, key, version string) (objectMeta, error) {
	var m objectMeta
	js, err := s.keys.Open(sealed, recordAD(purposeMeta, bucket, key, version))
	if err != nil {
		return m, fmt.Errorf("%w: open metadata of %s/%s: %w", ErrIntegrity, bucket, key, err)
	}
	if err := json.Unmarshal(js, &m); err != nil {
		return m, fmt.Errorf("%w: decode metadata of %s/%s: %w", ErrIntegrity, bucket, key, err)
	}
	return m, nil
}

// sealTags seals tags for (bucket, key, version); no tags seal to nil.
func (s *Service) sealTags(tags map[string]string, bucket, key, version string) ([]byte, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	js, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	sealed, err := s.keys.Seal(js, recordAD(purposeTags, bucket, key, version))
	if err != nil {
		return nil, fmt.Errorf("seal tags: %w", err)
	}
	return sealed, nil
}

// openTags opens what sealTags produced (never nil); a failure wraps ErrIntegrity.
func (s *Service) openTags(sealed []byte, bucket, key, version string) (map[string]string, error) {
	tags := map[string]string{}
	if len(sealed) == 0 {
		return tags, nil
	}
	js, err := s.keys.Open(sealed, recordAD(purposeTags, bucket, key, version))
	if err != nil {
		return nil, fmt.Errorf("%w: open tags of %s/%s: %w", ErrIntegrity, bucket, key, err)
	}
	if err := json.Unmarshal(js, &tags); err != nil {
		return nil, fmt.Errorf("%w: decode tags of %s/%s: %w", ErrIntegrity, bucket, key, err)
	}
	return tags, nil
}
