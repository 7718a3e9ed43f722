package seal

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootKeyCreateAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	k1, created, err := LoadOrCreateRootKey(path)
	if err != nil || !created {
		t.Fatalf("create: created=%v, %v", created, err)
	}
	if k1 == (RootKey{}) {
		t.Fatal("created a zero root key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("root key file mode %v size %d, want 0600 and 32", fi.Mode().Perm(), fi.Size())
	}
	k2, created, err := LoadOrCreateRootKey(path)
	if err != nil || created {
		t.Fatalf("load: created=%v, %v", created, err)
	}
	if k1 != k2 {
		t.Error("reloaded root key differs")
	}
	other, _, err := LoadOrCreateRootKey(filepath.Join(t.TempDir(), "root.key"))
	if err != nil || other == k1 {
		t.Errorf("second root key: equal=%v, %v", other == k1, err)
	}
}

func TestRootKeyRefused(t *testing.T) {
	content := make([]byte, 32)
	for i := range content {
		content[i] = byte(0xa0 + i)
	}
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"mode 0644", content, 0o644, "mode"},
		{"mode 0640", content, 0o640, "mode"},
		{"mode 0604", content, 0o604, "mode"},
		{"mode 0601", content, 0o601, "mode"},
		{"empty", nil, 0o600, "0 bytes"},
		{"31 bytes", content[:31], 0o600, "31 bytes"},
		{"33 bytes", append(content, 1), 0o600, "33 bytes"},
		{"64 hex chars", []byte(hex.EncodeToString(content)), 0o600, "64 bytes"},
		{"all zeros", make([]byte, 32), 0o600, "zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "root.key")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreateRootKey(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if created {
				t.Error("created = true for an existing file")
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q should name the path and say %q", msg, tt.want)
			}
			if len(tt.content) > 0 && (strings.Contains(msg, hex.EncodeToString(tt.content[:4])) || strings.Contains(msg, string(tt.content[:4]))) {
				t.Errorf("error %q leaks file content", msg)
			}
			// The file is left alone.
			if got, _ := os.ReadFile(path); string(got) != string(tt.content) {
				t.Error("refused file was modified")
			}
		})
	}
}

func TestRootKeyNotRegular(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateRootKey(dir); err == nil {
		t.Error("accepted a directory as root key file")
	}
}

func TestRootKeyMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "root.key")
	if _, _, err := LoadOrCreateRootKey(path); err == nil {
		t.Error("created a root key in a missing directory")
	}
}
