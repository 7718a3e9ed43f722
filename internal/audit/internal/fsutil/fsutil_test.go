package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("one"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	// excl never replaces: a key file is written once.
	if err := WriteFile(path, []byte("two"), 0o600, true); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive overwrite = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("after refused overwrite: %q", b)
	}
	if err := WriteFile(path, []byte("three"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "three" {
		t.Fatalf("after replace: %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600, false); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, []byte("12345"), 0o600, false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		max     int64
		want    string
		tooLong bool
	}{
		{5, "12345", false},
		{100, "12345", false},
		{4, "", true},
		{0, "", true},
	} {
		b, err := ReadFile(path, tt.max)
		if tt.tooLong {
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("ReadFile(max %d) = %q, %v; want ErrTooLarge", tt.max, b, err)
			}
			continue
		}
		if err != nil || string(b) != tt.want {
			t.Errorf("ReadFile(max %d) = %q, %v", tt.max, b, err)
		}
	}
	if _, err := ReadFile(path+".missing", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
