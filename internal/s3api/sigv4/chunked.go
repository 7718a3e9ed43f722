package sigv4

// This file decodes the aws-chunked body framing:
//
//	signed:    hex-size ";chunk-signature=" sig CRLF data CRLF ... "0;chunk-signature=" sig CRLF [CRLF]
//	unsigned:  hex-size CRLF data CRLF ... "0" CRLF
//	trailer:   name ":" value CRLF ... ["x-amz-trailer-signature:" sig CRLF] CRLF
//
// Each chunk signature is
//
//	HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" prev "\n" hex(sha256("")) "\n" hex(sha256(data)))
//
// where prev is the previous chunk's signature, and for the first chunk the
// request's own ("seed") signature; the chain makes dropping, reordering or
// splicing chunks fail. The trailer signature is
//
//	HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" prev "\n" hex(sha256(trailer)))
//
// over the trailer header lines, each as "name:value\n".
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
//
// The decoder streams: chunk data is handed out as it arrives and its
// signature is checked when the chunk ends, so no chunk is ever held in
// memory. Everything else is bounded by the limits below. Trailer lines may
// end in LF or CRLF and blank lines in the trailer are skipped, because
// minio-go writes "name:value\n" followed by blank lines.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// MaxChunkSize is the largest aws-chunked chunk accepted, 16 MiB. Clients
// send 8 KiB to 1 MiB (aws-sdk-go-v2, minio-go: 64 KiB); the decoder never
// buffers a chunk, so the bound only rejects nonsense early.
const MaxChunkSize = 16 << 20

const (
	// maxChunkLine bounds a chunk header line; a signed one is ~90 bytes.
	maxChunkLine = 512
	// maxTrailerLine bounds one trailer line; "x-amz-checksum-sha256:" and
	// 44 base64 characters is 66 bytes.
	maxTrailerLine = 1024
	// maxTrailerBytes bounds the whole trailer section.
	maxTrailerBytes = 4096
	// maxTrailerLines bounds the number of trailer lines, blank ones included.
	maxTrailerLines = 16
	// readBufferSize is the decoder's read buffer (it also bounds any line).
	readBufferSize = 4096

	emptySHA256Hex       = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	chunkAlgorithm       = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm     = "AWS4-HMAC-SHA256-TRAILER"
	trailerSignatureName = "x-amz-trailer-signature"
)

// chunkSigner holds what chunk signatures are computed from.
type chunkSigner struct {
	key     []byte // the request's signing key
	amzDate string
	scope   string
	seed    string // the request's signature
}

func (s *chunkSigner) chunkSignature(prev string, dataHash []byte) string {
	return signatureHex(s.key, chunkAlgorithm+"\n"+s.amzDate+"\n"+s.scope+"\n"+prev+"\n"+emptySHA256Hex+"\n"+hex.EncodeToString(dataHash))
}

func (s *chunkSigner) trailerSignature(prev string, trailerHash []byte) string {
	return signatureHex(s.key, trailerAlgorithm+"\n"+s.amzDate+"\n"+s.scope+"\n"+prev+"\n"+hex.EncodeToString(trailerHash))
}

// chunkedReader decodes an aws-chunked body. It returns io.EOF only after
// the final chunk, the decoded length and the trailer (signature included)
// have been checked; the trailer's checksum value is checked by bodyReader.
type chunkedReader struct {
	br      *bufio.Reader
	signed  bool
	trailer bool
	want    int64  // declared decoded length
	trName  string // the declared trailer, "" for none
	signer  chunkSigner
	prev    string    // previous signature in the chain
	h       hash.Hash // SHA-256 of the current chunk's data (signed only)

	chunk   int    // index of the current chunk, for messages
	inChunk bool   // reading the data of a chunk
	left    int64  // data bytes left in the current chunk
	sig     string // the current chunk's claimed signature
	decoded int64  // payload bytes handed out so far
	trVal   string
	trSeen  bool
	done    bool
	err     error
}

func newChunkedReader(r io.Reader, mode payloadMode, want int64, trailerName string, s chunkSigner) *chunkedReader {
	c := &chunkedReader{
		br:      bufio.NewReaderSize(r, readBufferSize),
		signed:  mode.signed,
		trailer: mode.trailer,
		want:    want,
		trName:  trailerName,
		signer:  s,
		prev:    s.seed,
		chunk:   -1,
	}
	if c.signed {
		c.h = sha256.New()
	}
	return c
}

// trailerValue returns the value of the declared trailer, once read.
func (c *chunkedReader) trailerValue() (string, bool) {
	return c.trVal, c.trSeen
}

// Read implements io.Reader.
func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch {
		case c.inChunk && c.left > 0:
			if len(p) == 0 {
				return 0, nil
			}
			q := p
			if int64(len(q)) > c.left {
				q = q[:c.left]
			}
			n, err := c.br.Read(q)
			c.left -= int64(n)
			c.decoded += int64(n)
			if c.signed {
				c.h.Write(q[:n])
			}
			if err != nil && n == 0 {
				return 0, c.fail(c.ioErr(err))
			}
			return n, nil
		case c.inChunk:
			if err := c.endChunk(); err != nil {
				return 0, c.fail(err)
			}
		case c.done:
			return 0, io.EOF
		default:
			if err := c.nextChunk(); err != nil {
				return 0, c.fail(err)
			}
		}
	}
	return 0, c.err
}

func (c *chunkedReader) fail(err error) error {
	c.err = err
	return err
}

// ioErr turns an error of the underlying body into the decoder's error: a
// premature end is ErrIncompleteBody, anything else is kept.
func (c *chunkedReader) ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: aws-chunked body ends inside chunk %d", ErrIncompleteBody, c.chunk)
	}
	return err
}

func (c *chunkedReader) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: chunk %d: %s", ErrMalformedChunk, c.chunk, fmt.Sprintf(format, args...))
}

// nextChunk reads and checks a chunk header line.
func (c *chunkedReader) nextChunk() error {
	c.chunk++
	line, err := c.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > maxChunkLine:
		return c.malformed("header line too long")
	case err != nil:
		return c.ioErr(err)
	case len(line) < 3 || line[len(line)-2] != '\r':
		return c.malformed("header line does not end in CRLF")
	}
	size, sig, err := c.parseHeader(string(line[:len(line)-2]))
	if err != nil {
		return err
	}
	if size > c.want-c.decoded {
		return fmt.Errorf("%w: aws-chunked body is longer than x-amz-decoded-content-length", ErrIncompleteBody)
	}
	c.sig = sig
	if c.signed {
		c.h.Reset()
	}
	if size == 0 {
		return c.finalChunk()
	}
	c.inChunk, c.left = true, size
	return nil
}

// parseHeader parses "hex-size" or "hex-size;chunk-signature=<64 hex>".
func (c *chunkedReader) parseHeader(line string) (int64, string, error) {
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if sizeStr == "" || len(sizeStr) > 16 || !isHex(sizeStr) {
		return 0, "", c.malformed("invalid chunk size")
	}
	u, err := strconv.ParseUint(sizeStr, 16, 64)
	if err != nil || u > MaxChunkSize {
		return 0, "", c.malformed("chunk size over %d bytes", MaxChunkSize)
	}
	if !c.signed {
		if hasExt {
			return 0, "", c.malformed("unexpected chunk extension in an unsigned stream")
		}
		return int64(u), "", nil
	}
	sig, ok := strings.CutPrefix(ext, "chunk-signature=")
	if !hasExt || !ok {
		return 0, "", c.malformed("missing chunk-signature")
	}
	sig, ok = parseSignature(sig)
	if !ok {
		return 0, "", c.malformed("chunk-signature is not 64 hexadecimal characters")
	}
	return int64(u), sig, nil
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return c.ioErr(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return c.malformed("chunk data not followed by CRLF")
	}
	c.inChunk = false
	return c.checkChunkSignature()
}

func (c *chunkedReader) checkChunkSignature() error {
	if !c.signed {
		return nil
	}
	want := c.signer.chunkSignature(c.prev, c.h.Sum(nil))
	if !signaturesEqual(c.sig, want) {
		return fmt.Errorf("%w: chunk %d", ErrChunkSignature, c.chunk)
	}
	c.prev = want
	return nil
}

// finalChunk handles what follows the 0-size chunk header: its signature,
// the length check, then either an optional CRLF and the end of the body,
// or the trailer.
func (c *chunkedReader) finalChunk() error {
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if c.decoded != c.want {
		return fmt.Errorf("%w: aws-chunked body has %d bytes, x-amz-decoded-content-length says %d", ErrIncompleteBody, c.decoded, c.want)
	}
	if c.trailer {
		if err := c.readTrailer(); err != nil {
			return err
		}
	} else {
		rest, err := c.br.Peek(3)
		if err != nil && err != io.EOF {
			return err
		}
		if len(rest) > 0 && string(rest) != "\r\n" {
			return c.malformed("data after the final chunk")
		}
	}
	c.done = true
	return nil
}

// readTrailer reads the trailer lines up to the end of the body and checks
// the trailer signature of a signed stream.
func (c *chunkedReader) readTrailer() error {
	var signed strings.Builder // the trailer lines as hashed: "name:value\n" each
	var sig string
	total := 0
	for i := 0; ; i++ {
		raw, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(raw) > maxTrailerLine {
			return c.malformed("trailer line too long")
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(raw) == 0 && err == io.EOF {
			break
		}
		if total += len(raw); total > maxTrailerBytes || i >= maxTrailerLines {
			return c.malformed("trailer too long")
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if line == "" {
			continue
		}
		if sig != "" {
			return c.malformed("trailer continues after %s", trailerSignatureName)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return c.malformed("trailer line without ':'")
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch {
		case name == trailerSignatureName:
			if !c.signed {
				return c.malformed("%s in an unsigned stream", trailerSignatureName)
			}
			if sig, ok = parseSignature(value); !ok {
				return c.malformed("%s is not 64 hexadecimal characters", trailerSignatureName)
			}
		case name != c.trName || c.trSeen:
			return c.malformed("trailer %s was not declared in x-amz-trailer", quoteClient(name))
		default:
			c.trVal, c.trSeen = value, true
			signed.WriteString(line)
			signed.WriteByte('\n')
		}
		if err == io.EOF {
			break
		}
	}
	if !c.signed {
		return nil
	}
	if sig == "" {
		return fmt.Errorf("%w: missing %s", ErrChunkSignature, trailerSignatureName)
	}
	sum := sha256.Sum256([]byte(signed.String()))
	want := c.signer.trailerSignature(c.prev, sum[:])
	if !signaturesEqual(sig, want) {
		return fmt.Errorf("%w: trailer", ErrChunkSignature)
	}
	c.prev = want
	return nil
}
