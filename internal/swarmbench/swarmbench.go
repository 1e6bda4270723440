// Package swarmbench measures one seeder serving many leechers that know
// each other, all in one process on loopback, with our engine or with
// anacrolix/torrent's client everywhere: how long until every leecher is
// complete, and how much of the data the seeder had to send itself (the
// rest the leechers traded among themselves).
//
// Every client listens on its own 127.0.0.x address (the seeder on
// 127.0.0.2, leecher i on 127.0.0.(3+i)) and dials from it, so each peer
// sees each other peer at a distinct IP, as in a real swarm. Leecher i is
// given the seeder and leechers 0..i-1, so each pair of peers is known to
// exactly one side and the swarm is a full mesh once every dial succeeds;
// trackers, the DHT and PEX play no part.
package swarmbench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"

	"github.com/bttspeed/bttspeed/internal/legacy"
	"github.com/bttspeed/bttspeed/peer"
)

// Impl names the client every peer of a swarm runs.
type Impl string

// The implementations.
const (
	Ours      Impl = "ours"
	Anacrolix Impl = "anacrolix"
)

// MaxLeechers bounds Config.Leechers: the addresses 127.0.0.3 to
// 127.0.0.254.
const MaxLeechers = 252

// Config is one swarm.
type Config struct {
	Impl Impl
	// Leechers is how many leechers download (1..MaxLeechers).
	Leechers int
	// MetaInfo is the torrent; SeedDir holds its data, complete.
	MetaInfo *metainfo.MetaInfo
	SeedDir  string
	// WorkDir is where the leechers' directories are made (and removed
	// when Run returns).
	WorkDir string
	// SeedUploadRate caps the seeder's upload in bytes per second (0: no
	// cap).
	SeedUploadRate int64
	// Timeout bounds the download (default 10 minutes).
	Timeout time.Duration
}

// Result is what a swarm did.
type Result struct {
	// Elapsed is from the first leecher's start until the last is
	// complete; Done each leecher's time to complete from the same start,
	// in leecher order.
	Elapsed time.Duration
	Done    []time.Duration
	// SeedUploaded is the payload the seeder sent; LeechUploaded the
	// payload the leechers sent one another (summed).
	SeedUploaded, LeechUploaded int64
}

// SeedShare is the seeder's upload over the data the leechers needed
// (Leechers × size): 1 if the leechers traded nothing, 1/Leechers at best.
func (r Result) SeedShare(size int64) float64 {
	return float64(r.SeedUploaded) / float64(int64(len(r.Done))*size)
}

// addr returns the i-th client's loopback address: the seeder is 0.
func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}) }

// Run runs one swarm until every leecher is complete, or ctx or the
// timeout ends it, and closes every client before it returns.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Leechers < 1 || cfg.Leechers > MaxLeechers {
		return Result{}, fmt.Errorf("swarmbench: %d leechers: want 1 to %d", cfg.Leechers, MaxLeechers)
	}
	if cfg.MetaInfo == nil {
		return Result{}, errors.New("swarmbench: no torrent")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var s swarm
	switch cfg.Impl {
	case Ours:
		s = &oursSwarm{}
	case Anacrolix:
		s = &anacrolixSwarm{}
	default:
		return Result{}, fmt.Errorf("swarmbench: unknown implementation %q", cfg.Impl)
	}
	dirs := make([]string, cfg.Leechers)
	for i := range dirs {
		dirs[i] = filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-leecher-%d", cfg.Impl, i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return Result{}, fmt.Errorf("swarmbench: %w", err)
		}
		defer os.RemoveAll(dirs[i])
	}
	defer s.close() // before the directories go
	if err := s.seed(ctx, cfg); err != nil {
		return Result{}, fmt.Errorf("swarmbench: %s seeder: %w", cfg.Impl, err)
	}
	start := time.Now()
	done := make([]<-chan struct{}, cfg.Leechers)
	for i := range cfg.Leechers {
		d, err := s.leech(ctx, cfg, i, dirs[i])
		if err != nil {
			return Result{}, fmt.Errorf("swarmbench: %s leecher %d: %w", cfg.Impl, i, err)
		}
		done[i] = d
	}
	// Each leecher's time is taken as it completes, whatever the order.
	res := Result{Done: make([]time.Duration, cfg.Leechers)}
	var wg sync.WaitGroup
	for i, d := range done {
		wg.Go(func() {
			select {
			case <-d:
				res.Done[i] = time.Since(start)
			case <-ctx.Done():
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		var left []int
		for i, d := range res.Done {
			if d == 0 {
				left = append(left, i)
			}
		}
		if len(left) > 0 {
			return Result{}, fmt.Errorf("swarmbench: %s: leechers %v incomplete after %v: %w", cfg.Impl, left, time.Since(start).Round(time.Millisecond), context.Cause(ctx))
		}
	}
	res.Elapsed = slices.Max(res.Done)
	var err error
	res.SeedUploaded, res.LeechUploaded, err = s.uploaded(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("swarmbench: %s: %w", cfg.Impl, err)
	}
	return res, nil
}

// swarm is one implementation's clients.
type swarm interface {
	// seed starts the seeder and returns once its data is verified.
	seed(ctx context.Context, cfg Config) error
	// leech starts leecher i, downloading into dir, and returns a channel
	// closed once it is complete.
	leech(ctx context.Context, cfg Config, i int, dir string) (<-chan struct{}, error)
	// uploaded returns the payload the seeder and the leechers uploaded.
	uploaded(ctx context.Context) (seed, leechers int64, err error)
	close()
}

type oursSwarm struct {
	clients  []*peer.Client
	torrents []*peer.Torrent
	addrs    []netip.AddrPort
}

func (s *oursSwarm) client(i int, uploadRate int64) (*peer.Client, error) {
	local := addr(i)
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
	cl, err := peer.NewClient(peer.Config{
		ListenAddr: netip.AddrPortFrom(local, 0).String(),
		Protocols:  peer.ProtocolTCP,
		Dial: func(ctx context.Context, a netip.AddrPort) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", a.String())
		},
		UploadRate: uploadRate,
	})
	if err != nil {
		return nil, err
	}
	s.clients = append(s.clients, cl)
	s.addrs = append(s.addrs, cl.Addr())
	return cl, nil
}

func (s *oursSwarm) seed(ctx context.Context, cfg Config) error {
	cl, err := s.client(0, cfg.SeedUploadRate)
	if err != nil {
		return err
	}
	t, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: cfg.MetaInfo, Dir: cfg.SeedDir, Verify: true})
	if err != nil {
		return err
	}
	s.torrents = append(s.torrents, t)
	select {
	case <-t.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("verifying its data: %w", context.Cause(ctx))
	}
}

func (s *oursSwarm) leech(ctx context.Context, cfg Config, i int, dir string) (<-chan struct{}, error) {
	known := slices.Clone(s.addrs) // the seeder and leechers 0..i-1
	cl, err := s.client(1+i, 0)
	if err != nil {
		return nil, err
	}
	t, err := cl.AddTorrent(ctx, peer.TorrentSpec{MetaInfo: cfg.MetaInfo, Dir: dir, Peers: known})
	if err != nil {
		return nil, err
	}
	s.torrents = append(s.torrents, t)
	return t.Done(), nil
}

func (s *oursSwarm) uploaded(ctx context.Context) (seed, leechers int64, err error) {
	for i, t := range s.torrents {
		st, err := t.Stats(ctx)
		if err != nil {
			return 0, 0, err
		}
		if i == 0 {
			seed = st.Uploaded
		} else {
			leechers += st.Uploaded
		}
	}
	return seed, leechers, nil
}

func (s *oursSwarm) close() {
	var wg sync.WaitGroup
	for _, cl := range s.clients {
		wg.Go(func() { _ = cl.Close() })
	}
	wg.Wait()
}

type anacrolixSwarm struct {
	clients  []*torrent.Client
	torrents []*torrent.Torrent
	addrs    []netip.AddrPort
}

func (s *anacrolixSwarm) client(i int, dir string, seed bool, uploadRate int64) (*torrent.Client, error) {
	local := addr(i)
	cfg := legacy.Config(dir, nil)
	cfg.ListenHost = func(string) string { return local.String() }
	cfg.Seed = seed
	if uploadRate > 0 {
		// The burst is what anacrolix asks of its limiter at once: a
		// block, at least.
		cfg.UploadRateLimiter = rate.NewLimiter(rate.Limit(uploadRate), 256<<10)
	}
	// Dial from our own address, not the listener's (anacrolix's own
	// dialers would leave from 127.0.0.1).
	cfg.DialForPeerConns = false
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s.clients = append(s.clients, cl)
	cl.AddDialer(torrent.NetworkDialer{Network: "tcp", Dialer: &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}})
	for _, a := range cl.ListenAddrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			s.addrs = append(s.addrs, ta.AddrPort())
			return cl, nil
		}
	}
	return nil, errors.New("anacrolix client has no TCP listener")
}

func (s *anacrolixSwarm) seed(ctx context.Context, cfg Config) error {
	cl, err := s.client(0, cfg.SeedDir, true, cfg.SeedUploadRate)
	if err != nil {
		return err
	}
	t, err := cl.AddTorrent(cfg.MetaInfo)
	if err != nil {
		return err
	}
	s.torrents = append(s.torrents, t)
	if err := t.VerifyDataContext(ctx); err != nil {
		return err
	}
	select {
	case <-t.Complete().On():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("its data is incomplete after verifying: %w", context.Cause(ctx))
	}
}

func (s *anacrolixSwarm) leech(ctx context.Context, cfg Config, i int, dir string) (<-chan struct{}, error) {
	known := make([]torrent.PeerInfo, len(s.addrs))
	for j, a := range s.addrs {
		known[j] = torrent.PeerInfo{Addr: net.TCPAddrFromAddrPort(a), Trusted: true}
	}
	cl, err := s.client(1+i, dir, true, 0)
	if err != nil {
		return nil, err
	}
	t, err := cl.AddTorrent(cfg.MetaInfo)
	if err != nil {
		return nil, err
	}
	s.torrents = append(s.torrents, t)
	t.AddPeers(known)
	t.DownloadAll()
	return t.Complete().On(), nil
}

func (s *anacrolixSwarm) uploaded(context.Context) (seed, leechers int64, err error) {
	for i, t := range s.torrents {
		st := t.Stats()
		n := st.BytesWrittenData.Int64()
		if i == 0 {
			seed = n
		} else {
			leechers += n
		}
	}
	return seed, leechers, nil
}

func (s *anacrolixSwarm) close() {
	var wg sync.WaitGroup
	for _, cl := range s.clients {
		wg.Go(func() { cl.Close() })
	}
	wg.Wait()
}

// MakeTorrent writes size random bytes to dir/payload.bin and returns its
// torrent, in pieces of pieceLen bytes.
func MakeTorrent(dir string, size, pieceLen int64) (*metainfo.MetaInfo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "payload.bin")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(path); err != nil {
		return nil, err
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, err
	}
	return &metainfo.MetaInfo{InfoBytes: ib}, nil
}
