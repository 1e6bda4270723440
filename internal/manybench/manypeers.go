// Package manybench measures one seeder with many peers connected, a few
// of them downloading: its memory and idle CPU per connection, its upload
// and how fairly it shares it (Jain's index), ours under TitForTat, under
// BidDriven with BitTorrent Speed payments and under RoundRobin, beside
// anacrolix's client. The benchmark and its child processes are the package's tests
// (BenchmarkManyPeers); this file holds their pure parts.
package manybench

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Jain returns Jain's fairness index of the amounts xs (bytes each peer
// received, say): (Σx)² / (n·Σx²). It is 1 when every peer got the same,
// k/n when k of the n peers got equal shares and the rest nothing, and
// 1/n when one peer got everything. An empty list, or one that sums to
// zero, has no fairness to measure: 0. A negative amount is an error.
func Jain(xs []int64) (float64, error) {
	var sum, sq float64
	for i, x := range xs {
		if x < 0 {
			return 0, fmt.Errorf("manybench: Jain: amount %d is negative (%d)", i, x)
		}
		f := float64(x)
		sum += f
		sq += f * f
	}
	if sum == 0 {
		return 0, nil
	}
	return sum * sum / (float64(len(xs)) * sq), nil
}

// ZeroFile is the name of the file ZeroTorrent makes.
const ZeroFile = "zeros.bin"

// ZeroTorrent writes dir/zeros.bin, size zero bytes, and returns its
// torrent in pieces of pieceLen bytes (the last one shorter if pieceLen
// does not divide size). Every full piece has the same hash, computed
// once: a torrent larger than any leecher can fetch in a benchmark's
// window costs only the writing. The wire, the seeder's reads and the
// leechers' hashing and writes are the same as for any data. The file is
// written, not left sparse: anacrolix's file storage takes a piece in a
// hole (SEEK_DATA) for one it does not have.
func ZeroTorrent(dir string, size, pieceLen int64) (*metainfo.MetaInfo, error) {
	if size <= 0 || pieceLen <= 0 {
		return nil, fmt.Errorf("manybench: zero torrent of %d bytes in pieces of %d: both must be positive", size, pieceLen)
	}
	if pieceLen%(16<<10) != 0 {
		return nil, errors.New("manybench: zero torrent: the piece length must be a multiple of 16 KiB")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("manybench: %w", err)
	}
	path := filepath.Join(dir, ZeroFile)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("manybench: %w", err)
	}
	if _, err := io.CopyN(f, zeroReader{}, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("manybench: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("manybench: %w", err)
	}
	zeros := make([]byte, pieceLen)
	full := sha1.Sum(zeros)
	n := (size + pieceLen - 1) / pieceLen
	pieces := make([]byte, 0, n*sha1.Size)
	for i := range n {
		h := full
		if last := size - i*pieceLen; last < pieceLen {
			h = sha1.Sum(zeros[:last])
		}
		pieces = append(pieces, h[:]...)
	}
	info := metainfo.Info{Name: ZeroFile, Length: size, PieceLength: pieceLen, Pieces: pieces}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("manybench: %w", err)
	}
	return &metainfo.MetaInfo{InfoBytes: ib}, nil
}

// zeroReader reads zeros forever.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
