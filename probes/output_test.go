package probes

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestCappedBuffer: the first MaxOutput bytes are kept, every write
// reports success so a pipe copier keeps draining, and the rest is counted
// as discarded, never held.
func TestCappedBuffer(t *testing.T) {
	b := NewCappedBuffer(MaxOutput)
	// 64 MiB through io.Copy, as execIO copies an exec's pipe.
	const total = 64 << 20
	n, err := io.Copy(b, io.LimitReader(zeros{}, total))
	if err != nil || n != total {
		t.Fatalf("io.Copy stopped at %d bytes: %v", n, err)
	}
	if got := b.Bytes(); len(got) != MaxOutput || !bytes.Equal(got, make([]byte, MaxOutput)) {
		t.Errorf("kept %d bytes, want %d", len(got), MaxOutput)
	}
	if b.Discarded() != total-MaxOutput {
		t.Errorf("discarded %d, want %d", b.Discarded(), total-MaxOutput)
	}
	if c := cap(b.buf); c > 2*MaxOutput {
		t.Errorf("buffer capacity %d: more than the cap is held", c)
	}
}

func TestCappedBufferKeepsShortOutputWhole(t *testing.T) {
	b := NewCappedBuffer(10)
	for _, s := range []string{"abc", "defgh", "ijklmn", "op"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := string(b.Bytes()); got != "abcdefghij" || b.Discarded() != 6 {
		t.Errorf("kept %q, discarded %d", got, b.Discarded())
	}
	small := NewCappedBuffer(MaxOutput)
	_, _ = io.Copy(small, strings.NewReader("ok\n"))
	if string(small.Bytes()) != "ok\n" || small.Discarded() != 0 {
		t.Errorf("short output: %q", small.Bytes())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
