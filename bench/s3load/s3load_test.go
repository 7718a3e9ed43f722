package main

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestPayloadDeterministicAndVerifiable(t *testing.T) {
	block := seedBlock()
	const size = 3*blockSize + 12345
	a, err := io.ReadAll(newPayload(block, size))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != size {
		t.Fatalf("len = %d, want %d", len(a), size)
	}
	// Odd read sizes must give the same stream.
	p := newPayload(seedBlock(), size)
	var b bytes.Buffer
	buf := make([]byte, 7777)
	for {
		n, err := p.Read(buf)
		b.Write(buf[:n])
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(a, b.Bytes()) {
		t.Fatal("payload differs between read sizes")
	}
	if bytes.Equal(a[:blockSize], a[blockSize:2*blockSize]) {
		t.Fatal("consecutive blocks are identical")
	}

	v := newVerifier(block, size, true)
	if _, err := io.CopyBuffer(v, bytes.NewReader(a), make([]byte, 1000)); err != nil || v.n != size {
		t.Fatalf("verify good stream: n=%d err=%v", v.n, err)
	}
	a[2*blockSize+3] ^= 1
	v = newVerifier(block, size, true)
	if _, err := io.Copy(v, bytes.NewReader(a)); err != errMismatch {
		t.Fatalf("verify flipped byte: err=%v, want errMismatch", err)
	}
}

func TestPercentileAndSize(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(d, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(d, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	for s, want := range map[string]int64{"4096": 4096, "4KiB": 4096, "1GiB": 1 << 30, "64MiB": 64 << 20} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "x", "-1", "1.5GiB", "4kb"} {
		if _, err := parseSize(s); err == nil {
			t.Errorf("parseSize(%q) accepted", s)
		}
	}
}
