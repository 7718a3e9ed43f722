package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestKeyWrapper(t *testing.T) {
	var root, other RootKey
	root[0], other[0] = 1, 2
	w, err := NewKeyWrapper(root, "audit")
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	wrapped, err := w.WrapKey(key, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.UnwrapKey(wrapped, []byte("ad"))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("round trip: %x, %v", got, err)
	}
	wOther, _ := NewKeyWrapper(other, "audit")
	wPurpose, _ := NewKeyWrapper(root, "backup")
	flipped := bytes.Clone(wrapped)
	flipped[len(flipped)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other root":    func() ([]byte, error) { return wOther.UnwrapKey(wrapped, []byte("ad")) },
		"other purpose": func() ([]byte, error) { return wPurpose.UnwrapKey(wrapped, []byte("ad")) },
		"other ad":      func() ([]byte, error) { return w.UnwrapKey(wrapped, []byte("ad2")) },
		"flipped bit":   func() ([]byte, error) { return w.UnwrapKey(flipped, []byte("ad")) },
		"truncated":     func() ([]byte, error) { return w.UnwrapKey(wrapped[:20], []byte("ad")) },
	} {
		if _, err := open(); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: err = %v, want ErrIntegrity", name, err)
		}
	}
}
