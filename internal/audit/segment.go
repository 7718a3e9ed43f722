package audit

// Segment files. The leaf log and the payload store are sequences of
// segment files named by the index of their first record (20 decimal
// digits), rolled together every Options.SegmentEntries records:
//
//	log/<first>       leaf records, fixed size:
//	                  entry (32) || CRC-32C(index (8, big endian) || entry) (4)
//	payloads/<first>  payload records:
//	                  length (4) || CRC-32C(rest) (4) || rest
//	                  rest = index (8) || subject id (32) || sealed payload
//
// The CRCs bind each record to its index, so a torn, dropped or reordered
// record is found at its position; they are not a defence against a
// deliberate forger (the checkpoints and payload commitments are).

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

const (
	logRecordSize    = entrySize + 4
	payloadHeader    = 8
	payloadFixed     = 8 + 32
	maxPayloadRecord = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendLogRecord(dst []byte, index int64, entry []byte) []byte {
	var ib [8]byte
	binary.BigEndian.PutUint64(ib[:], uint64(index))
	c := crc32.Update(crc32.Checksum(ib[:], castagnoli), castagnoli, entry)
	dst = append(dst, entry...)
	return binary.BigEndian.AppendUint32(dst, c)
}

func checkLogRecord(rec []byte, index int64) bool {
	var ib [8]byte
	binary.BigEndian.PutUint64(ib[:], uint64(index))
	c := crc32.Update(crc32.Checksum(ib[:], castagnoli), castagnoli, rec[:entrySize])
	return binary.BigEndian.Uint32(rec[entrySize:]) == c
}

func appendPayloadRecord(dst []byte, index int64, subjectID []byte, sealed []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(payloadFixed+len(sealed)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(index))
	dst = append(dst, subjectID...)
	dst = append(dst, sealed...)
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+payloadHeader:], castagnoli))
	return dst
}

// payloadRecord is a decoded payload record.
type payloadRecord struct {
	index   int64
	subject string // hex subject id
	sealed  []byte
}

var errTorn = errors.New("torn or corrupt record")

// payloadReader reads payload records from one segment.
type payloadReader struct {
	r   *bufio.Reader
	off int64
	buf []byte
}

// next returns the next record and its size, io.EOF at a clean end (end
// of file, or the preallocated zeros after the last record), or errTorn at
// an incomplete or corrupt record.
func (p *payloadReader) next() (payloadRecord, int, error) {
	var h [payloadHeader]byte
	n, err := io.ReadFull(p.r, h[:])
	if err == io.EOF {
		return payloadRecord{}, 0, io.EOF
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return payloadRecord{}, n, errTorn
		}
		return payloadRecord{}, n, err
	}
	size := binary.BigEndian.Uint32(h[:4])
	if size == 0 && binary.BigEndian.Uint32(h[4:]) == 0 {
		return payloadRecord{}, 0, io.EOF // preallocated zeros: the end
	}
	if size < payloadFixed || size > maxPayloadRecord {
		return payloadRecord{}, n, errTorn
	}
	if cap(p.buf) < int(size) {
		p.buf = make([]byte, size)
	}
	b := p.buf[:size]
	m, err := io.ReadFull(p.r, b)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return payloadRecord{}, n + m, errTorn
		}
		return payloadRecord{}, n + m, err
	}
	if crc32.Checksum(b, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return payloadRecord{}, n + m, errTorn
	}
	rec := payloadRecord{
		index:   int64(binary.BigEndian.Uint64(b)),
		subject: hex.EncodeToString(b[8:40]),
		sealed:  b[40:],
	}
	p.off += int64(n + m)
	return rec, n + m, nil
}

// segment is one segment file on disk.
type segment struct {
	first int64
	path  string
}

func segmentName(first int64) string { return fmt.Sprintf("%020d", first) }

// parseSegmentName is the inverse of segmentName: it accepts only its
// exact spelling (20 digits, no sign), so no two files name one number.
func parseSegmentName(name string) (int64, bool) {
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil || n < 0 || name != segmentName(n) {
		return 0, false
	}
	return n, true
}

// listSegments returns the segments in dir in index order. Files that are
// not named like segments are an error: nothing else belongs there.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		first, ok := parseSegmentName(e.Name())
		if !ok {
			return nil, fmt.Errorf("unexpected file %s in %s", e.Name(), dir)
		}
		segs = append(segs, segment{first, filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(segs, func(a, b segment) int { return cmpInt(a.first, b.first) })
	return segs, nil
}

// payloadIter reads payload records across segments in order.
type payloadIter struct {
	segs []segment
	si   int
	f    *os.File
	pr   *payloadReader
	name string // current segment, relative to the ledger directory
}

func newPayloadIter(dir string) (*payloadIter, error) {
	segs, err := listSegments(filepath.Join(dir, "payloads"))
	if err != nil {
		return nil, err
	}
	return &payloadIter{segs: segs, name: "payloads"}, nil
}

// next returns the next payload record, expected to be for index n.
func (it *payloadIter) next(n int64) (payloadRecord, error) {
	for {
		if it.pr != nil {
			rec, _, err := it.pr.next()
			if err == nil {
				return rec, nil
			}
			if err != io.EOF {
				return rec, &VerifyError{Index: n, Path: it.name, Reason: fmt.Sprintf("payload record unreadable: %v", err)}
			}
			it.f.Close()
			it.f, it.pr = nil, nil
		}
		if it.si >= len(it.segs) {
			return payloadRecord{}, &VerifyError{Index: n, Path: "payloads", Reason: "payload missing"}
		}
		s := it.segs[it.si]
		it.name = "payloads/" + segmentName(s.first)
		f, err := os.Open(s.path)
		if err != nil {
			return payloadRecord{}, err
		}
		it.si++
		it.f, it.pr = f, &payloadReader{r: bufio.NewReaderSize(f, 1<<20)}
	}
}

// more reports whether any payload record is left.
func (it *payloadIter) more() bool {
	if it.pr != nil {
		if _, _, err := it.pr.next(); err != io.EOF {
			return true
		}
	}
	for _, s := range it.segs[it.si:] {
		if fileSize(s.path) != 0 {
			return true
		}
	}
	return false
}

func (it *payloadIter) close() {
	if it.f != nil {
		it.f.Close()
	}
}
