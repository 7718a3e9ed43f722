package export

// Cursors. A sink's cursor is the number of ledger entries it has
// acknowledged, i.e. the index of the next entry to deliver, kept in
// <state dir>/<sink name>.cursor as "coffer-export-cursor v1 <n>\n". It is
// written to a temporary file, fsynced, renamed into place and the
// directory fsynced, so a crash leaves the old or the new cursor, never a
// torn one; and it is written only after the sink acknowledged, so it never
// runs ahead of what the receiver has.

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/coffer-vault/coffer/internal/audit/internal/fsutil"
)

const cursorMagic = "coffer-export-cursor v1 "

// maxCursorFile bounds a cursor file: the magic, 19 digits and a newline.
const maxCursorFile = int64(len(cursorMagic) + 20)

// validName is what a sink name may look like: it names a file.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func cursorPath(stateDir, sink string) string {
	return filepath.Join(stateDir, sink+".cursor")
}

// ReadCursor returns the persisted cursor of a sink: the index of the next
// entry to deliver, 0 if the sink has none yet.
func ReadCursor(stateDir, sink string) (int64, error) {
	if !validName.MatchString(sink) {
		return 0, fmt.Errorf("export: invalid sink name %q", sink)
	}
	b, err := fsutil.ReadFile(cursorPath(stateDir, sink), maxCursorFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("export: read cursor: %w", err)
	}
	s, ok := strings.CutPrefix(string(b), cursorMagic)
	s, ok2 := strings.CutSuffix(s, "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || !ok2 || err != nil || n < 0 {
		return 0, fmt.Errorf("export: cursor file %s is corrupt", cursorPath(stateDir, sink))
	}
	return n, nil
}

// SetCursor sets a sink's cursor to n, for operator tools: 0 re-exports
// everything (rebuilding the search index, say). Never run it while the
// sink's Follower runs.
func SetCursor(stateDir, sink string, n int64) error {
	if !validName.MatchString(sink) {
		return fmt.Errorf("export: invalid sink name %q", sink)
	}
	if n < 0 {
		return fmt.Errorf("export: negative cursor %d", n)
	}
	return writeCursor(stateDir, sink, n)
}

// writeCursor persists n as the sink's cursor, durably.
func writeCursor(stateDir, sink string, n int64) error {
	data := []byte(cursorMagic + strconv.FormatInt(n, 10) + "\n")
	if err := fsutil.WriteFile(cursorPath(stateDir, sink), data, 0o600, false); err != nil {
		return fmt.Errorf("export: write cursor: %w", err)
	}
	return nil
}
