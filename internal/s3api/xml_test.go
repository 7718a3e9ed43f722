package s3api

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestEncodeXML(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 600e6, time.FixedZone("x", 3600))
	count := 1
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"error", errorResponse{Code: "NoSuchKey", Message: "The specified key does not exist.", Resource: "/b/k<", RequestID: "ID"},
			`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/k&lt;</Resource><RequestId>ID</RequestId></Error>`},
		{"location us-east-1", locationConstraint{NS: s3NS},
			`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`},
		{"location", locationConstraint{NS: s3NS, Location: "eu-west-1"},
			`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>`},
		{"versioning", versioningConfiguration{NS: s3NS},
			`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`},
		{"copy", copyObjectResult{NS: s3NS, LastModified: xmlTime(ts), ETag: quoteETag("abc")},
			`<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2024-01-02T02:04:05.600Z</LastModified><ETag>&#34;abc&#34;</ETag></CopyObjectResult>`},
		{"buckets", listAllMyBucketsResult{NS: s3NS, Owner: owner{ID: "o"}, Buckets: []bucketEntry{{Name: "b", CreationDate: xmlTime(ts)}}},
			`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>b</Name><CreationDate>2024-01-02T02:04:05.600Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>`},
		{"list v2", listBucketResult{NS: s3NS, Name: "b", KeyCount: &count, MaxKeys: 1000, IsTruncated: true, NextToken: "tok",
			Contents:       []objectEntry{{Key: "k", LastModified: xmlTime(ts), ETag: `"e"`, Size: 3, StorageClass: "STANDARD"}},
			CommonPrefixes: []commonPrefix{{Prefix: "p/"}}},
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><NextContinuationToken>tok</NextContinuationToken><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>k</Key><LastModified>2024-01-02T02:04:05.600Z</LastModified><ETag>&#34;e&#34;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>`},
		{"tagging", tagging{NS: s3NS, Tags: sortedTags(map[string]string{"b": "2", "a": "1"})},
			`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>`},
		{"policy status", policyStatus{NS: s3NS},
			`<PolicyStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsPublic>false</IsPublic></PolicyStatus>`},
		{"encryption", serverSideEncryptionConfiguration{NS: s3NS, SSEAlgorithm: "AES256"},
			`<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`},
	}
	for _, tt := range tests {
		b, err := encodeXML(tt.v)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got, ok := strings.CutPrefix(string(b), `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
		if !ok {
			t.Errorf("%s: no XML declaration: %s", tt.name, b)
		}
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestEncodeACL(t *testing.T) {
	h := &handler{}
	b, err := encodeXML(h.ownerACL(&request{accessKey: "AK"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>AK</ID>`,
		`<Permission>FULL_CONTROL</Permission>`,
		`<Owner><ID>AK</ID>`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ACL %s lacks %s", b, want)
		}
	}
}

func TestDecodeXML(t *testing.T) {
	var del deleteRequest
	err := decodeXML(strings.NewReader(`<?xml version="1.0"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b&amp;c</Key><VersionId>v</VersionId></Object></Delete>`), maxXMLBody, &del)
	if err != nil || !del.Quiet || len(del.Objects) != 2 || del.Objects[1].Key != "b&c" || del.Objects[1].VersionID != "v" {
		t.Errorf("delete = %+v, %v", del, err)
	}
	var cmu completeMultipartUpload
	err = decodeXML(strings.NewReader(`<CompleteMultipartUpload><Part><ETag>"e1"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>e2</ETag></Part></CompleteMultipartUpload>`), maxCompleteBody, &cmu)
	if err != nil || len(cmu.Parts) != 2 || cmu.Parts[0].ETag != `"e1"` || cmu.Parts[1].PartNumber != 2 {
		t.Errorf("complete = %+v, %v", cmu, err)
	}

	malformed := []struct {
		name  string
		body  string
		limit int64
	}{
		{"syntax", `<Delete><Object><Key>a</Key></Delete>`, maxXMLBody},
		{"wrong root", `<Tagging></Tagging>`, maxXMLBody},
		{"empty", ``, maxXMLBody},
		{"too large", `<Delete>` + strings.Repeat(" ", 100) + `</Delete>`, 64},
		{"not a number", `<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>`, maxXMLBody},
	}
	for _, tt := range malformed {
		var v deleteRequest
		var err error
		if strings.HasPrefix(tt.body, "<Complete") {
			err = decodeXML(strings.NewReader(tt.body), tt.limit, &cmu)
		} else {
			err = decodeXML(strings.NewReader(tt.body), tt.limit, &v)
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != "MalformedXML" {
			t.Errorf("%s: err = %v, want MalformedXML", tt.name, err)
		}
	}
	var cfg createBucketConfiguration
	if err := decodeOptionalXML(strings.NewReader("  \n"), maxXMLBody, &cfg); err != nil {
		t.Errorf("empty optional body: %v", err)
	}
}

func TestS3URLEncode(t *testing.T) {
	for in, want := range map[string]string{
		"plain/key.txt":  "plain/key.txt",
		"a b+c":          "a+b%2Bc",
		"ctl\x01\x1f":    "ctl%01%1F",
		"ü&=?#%":         "%C3%BC%26%3D%3F%23%25",
		"tilde~_-.":      "tilde~_-.",
		"dir/sub dir/ x": "dir/sub+dir/+x",
	} {
		got := s3URLEncode(in)
		if got != want {
			t.Errorf("s3URLEncode(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.QueryUnescape(got); err != nil || back != in {
			t.Errorf("QueryUnescape(%q) = %q, %v; want %q", got, back, err, in)
		}
	}
}

func TestContinuationToken(t *testing.T) {
	for _, m := range []string{"", "a", "dir/key with space/ü", strings.Repeat("x", 1024)} {
		got, err := decodeToken(encodeToken(m))
		if err != nil || got != m {
			t.Errorf("token round trip %q = %q, %v", m, got, err)
		}
	}
	if _, err := decodeToken("!!!"); err == nil {
		t.Error("bad token accepted")
	}
}

func TestParseMaxKeys(t *testing.T) {
	for in, want := range map[string]int{"": 1000, "0": 0, "5": 5, "1000": 1000, "5000": 1000, "-3": 0} {
		got, err := parseMaxKeys(url.Values{"max-keys": {in}}, "max-keys")
		if err != nil || got != want {
			t.Errorf("parseMaxKeys(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseMaxKeys(url.Values{"max-keys": {"ten"}}, "max-keys"); err == nil {
		t.Error("non-integer max-keys accepted")
	}
}
