package netstack

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// chunkReader returns its data in reads of the sizes given in turn
// (cycling), at most len(p) each, as a socket does.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(r.sizes[r.i%len(r.sizes)], len(p), len(r.data))
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestCopyAdaptive: bytes arrive intact and in order while the copy
// switches between its small and bulk buffers (full reads, then short
// ones, then full ones again).
func TestCopyAdaptive(t *testing.T) {
	data := make([]byte, 3*bulkCopy+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, sizes := range [][]int{
		{1 << 30},                              // always full reads: bulk at once
		{smallCopy, bulkCopy, 100, 7, 1 << 30}, // up, down, up again
		{1, 2, 3},                              // never bulk
	} {
		var out bytes.Buffer
		copyAdaptive(&out, &chunkReader{data: data, sizes: sizes}, bulkCopy)
		if !bytes.Equal(out.Bytes(), data) {
			t.Errorf("reads of %v: copied %d bytes, not the %d sent (or not the same)", sizes, out.Len(), len(data))
		}
	}
}
