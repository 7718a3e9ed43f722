package export

// The JSON lines sink appends one Record per line to a file and fsyncs
// once per batch before acknowledging it. When it opens the file it cuts a
// torn last line (a write a crash interrupted) and remembers the index of
// the last complete line, so that a batch re-delivered after a crash is not
// written twice: the file sink delivers exactly once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
)

// JSONLConfig configures a JSON lines file sink.
type JSONLConfig struct {
	// Name of the sink (its cursor file); default "jsonl".
	Name string
	// Path of the file, created with mode 0600 if missing.
	Path string
	// MaxBytes, when > 0, rotates the file once it has grown past it: the
	// file is renamed to Path.<index of its first record, 20 digits> and a
	// new one started. Rotated files are left for the operator's tooling.
	MaxBytes int64
}

// JSONL is the JSON lines file sink.
type JSONL struct {
	cfg  JSONLConfig
	f    *os.File
	size int64
	last int64 // index of the last record in the file, -1 if unknown
	buf  []byte
}

// NewJSONL opens (creating if needed) the file of a JSON lines sink.
func NewJSONL(cfg JSONLConfig) (*JSONL, error) {
	if cfg.Name == "" {
		cfg.Name = "jsonl"
	}
	if cfg.Path == "" {
		return nil, errors.New("export: jsonl: Path is required")
	}
	s := &JSONL{cfg: cfg, last: -1}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// Name returns the sink's name.
func (s *JSONL) Name() string { return s.cfg.Name }

// open opens the file, cuts a torn tail and finds the last index.
func (s *JSONL) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("export: jsonl: %w", err)
	}
	size, last, err := lastLine(f)
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("export: jsonl: %s: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, size
	if last >= 0 {
		s.last = last
	}
	return fsutil.SyncDir(filepath.Dir(s.cfg.Path))
}

// lastLine returns the length of the file's complete lines and the index
// of the last one (-1 if none or unreadable).
func lastLine(f *os.File) (int64, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, -1, err
	}
	end := fi.Size()
	// Read back far enough to find the last two newlines, chunk by chunk
	// (joined once: a long torn line costs linear time, not quadratic).
	const chunk = 64 << 10
	var chunks [][]byte // last chunk first
	newlines := 0
	start := end
	for start > 0 && newlines < 2 {
		n := min(int64(chunk), start)
		start -= n
		b := make([]byte, n)
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, -1, err
		}
		chunks = append(chunks, b)
		newlines += bytes.Count(b, []byte("\n"))
	}
	slices.Reverse(chunks)
	tail := bytes.Join(chunks, nil)
	i := bytes.LastIndexByte(tail, '\n')
	if i < 0 {
		return start, -1, nil // no complete line (start is 0)
	}
	complete := start + int64(i) + 1
	line := tail[:i]
	if j := bytes.LastIndexByte(line, '\n'); j >= 0 {
		line = line[j+1:]
	}
	var r struct {
		Index *int64 `json:"index"`
	}
	if json.Unmarshal(line, &r) != nil || r.Index == nil {
		return complete, -1, nil
	}
	return complete, *r.Index, nil
}

// Deliver appends the records not yet in the file and fsyncs it.
func (s *JSONL) Deliver(ctx context.Context, batch []Record) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.cfg.MaxBytes > 0 && s.size >= s.cfg.MaxBytes {
		if err := s.rotate(batch[0].Index); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	for i := range batch {
		if batch[i].Index <= s.last {
			continue // already written before a crash
		}
		s.buf = batch[i].appendJSON(s.buf)
		s.buf = append(s.buf, '\n')
	}
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.f.Write(s.buf); err != nil {
		return s.fail(err)
	}
	if err := s.f.Sync(); err != nil {
		return s.fail(err)
	}
	s.size += int64(len(s.buf))
	s.last = batch[len(batch)-1].Index
	return nil
}

// fail closes the file so that the retry reopens it, cutting whatever part
// of the batch reached it.
func (s *JSONL) fail(err error) error {
	s.f.Close()
	s.f = nil
	return fmt.Errorf("export: jsonl: %w", err)
}

// rotate renames the current file aside and starts a new one. first is
// the index the new file starts with; the old file is named after its own
// first record.
func (s *JSONL) rotate(first int64) error {
	head, err := firstIndex(s.f)
	if err != nil {
		head = first // unreadable head: name it after where it ended
	}
	aside := fmt.Sprintf("%s.%020d", s.cfg.Path, head)
	if _, err := os.Lstat(aside); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: jsonl: rotate: %s exists", aside)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("export: jsonl: rotate: %w", err)
	}
	s.f = nil
	if err := os.Rename(s.cfg.Path, aside); err != nil {
		return fmt.Errorf("export: jsonl: rotate: %w", err)
	}
	last := s.last
	if err := s.open(); err != nil {
		return err
	}
	s.last = last
	return nil
}

// firstIndex returns the index of the file's first record.
func firstIndex(f *os.File) (int64, error) {
	b := make([]byte, 64)
	n, err := f.ReadAt(b, 0)
	if n == 0 {
		return 0, err
	}
	var idx int64
	if _, err := fmt.Sscanf(string(b[:n]), `{"index":%d,`, &idx); err != nil {
		return 0, err
	}
	return idx, nil
}

// Close closes the file.
func (s *JSONL) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
