package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/bttspeed/bttspeed/internal/backoff"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// TrackerConfig configures a tracker Source. Zero fields take the defaults
// shown.
type TrackerConfig struct {
	// MinInterval is the shortest re-announce interval we accept from a
	// tracker (default 30 s); MaxInterval the longest (default 30 min).
	MinInterval, MaxInterval time.Duration
	// Timeout bounds one announce (default 15 s).
	Timeout time.Duration
	// NumWant is how many peers to ask for (default 50).
	NumWant int32
	// Logger receives announce errors; nil discards them.
	Logger *slog.Logger
}

// Tracker announces to one tracker: "started" first, then at the interval
// the tracker asks for (within MinInterval and MaxInterval), "completed" as
// soon as Left reaches 0 after having been above it, and "stopped" on the
// way out. Failed announces are retried with exponential backoff and
// jitter, from 5 s up to MaxInterval.
type Tracker struct {
	url string
	cfg TrackerConfig
}

// RedactURL returns a tracker URL fit for logs and errors. Private
// trackers put a passkey in the path or the query (and some a user and
// password before the host), so only the scheme, the host and a path of
// "/announce" are kept; the rest shows as "…".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		scheme, rest, ok := strings.Cut(raw, "://")
		if !ok {
			return "…"
		}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = rest[i+1:]
		}
		host, _, cut := strings.Cut(rest, "/")
		if host, _, c := strings.Cut(host, "?"); c || cut {
			return scheme + "://" + host + "/…"
		}
		return scheme + "://" + host
	}
	out := u.Scheme + "://" + u.Host
	switch u.Path {
	case "", "/", "/announce":
		out += u.Path
	default:
		out += "/…"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		out += "?…"
	}
	return out
}

// redactedError is an error whose text has a tracker URL's secrets cut
// out; it still unwraps to the original.
type redactedError struct {
	err error
	msg string
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// redactErr cuts what RedactURL hides of rawURL out of err's text.
func redactErr(err error, rawURL string) error {
	msg := err.Error()
	var secrets []string
	if u, perr := url.Parse(rawURL); perr == nil {
		if u.User != nil {
			pw, _ := u.User.Password()
			secrets = append(secrets, u.User.String(), u.User.Username(), pw)
		}
		if p := u.EscapedPath(); p != "" && p != "/" && p != "/announce" {
			secrets = append(secrets, p, u.Path)
		}
		if u.RawQuery != "" {
			secrets = append(secrets, u.RawQuery)
			for _, vs := range u.Query() {
				secrets = append(secrets, vs...)
			}
		}
	} else {
		secrets = append(secrets, rawURL)
	}
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "…")
		}
	}
	if msg == err.Error() {
		return err
	}
	return redactedError{err: err, msg: msg}
}

// NewTracker returns a Source for an http(s):// or udp:// tracker URL.
// Its errors, and the logs of the Source, show the URL redacted (see
// RedactURL).
func NewTracker(rawURL string, cfg TrackerConfig) (*Tracker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL's own text would show it whole
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadURL, RedactURL(rawURL), redactErr(err, rawURL))
	}
	switch u.Scheme {
	case "http", "https", "udp", "udp4", "udp6":
	default:
		return nil, fmt.Errorf("%w: %s: scheme %q (want http, https or udp)", ErrBadURL, RedactURL(rawURL), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %s: no host", ErrBadURL, RedactURL(rawURL))
	}
	if cfg.MinInterval < 0 || cfg.MaxInterval < 0 || cfg.Timeout < 0 || cfg.NumWant < 0 {
		return nil, fmt.Errorf("%w: negative tracker setting", ErrBadConfig)
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = 30 * time.Second
	}
	if cfg.MaxInterval == 0 {
		cfg.MaxInterval = 30 * time.Minute
	}
	if cfg.MaxInterval < cfg.MinInterval {
		return nil, fmt.Errorf("%w: MaxInterval %v below MinInterval %v", ErrBadConfig, cfg.MaxInterval, cfg.MinInterval)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.NumWant == 0 {
		cfg.NumWant = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tracker{url: rawURL, cfg: cfg}, nil
}

// URL returns the tracker's URL.
func (tr *Tracker) URL() string { return tr.url }

// String returns the tracker's URL redacted (see RedactURL).
func (tr *Tracker) String() string { return RedactURL(tr.url) }

// Run implements Source.
func (tr *Tracker) Run(ctx context.Context, a Announce) error {
	cl, err := tr.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	event := tracker.Started
	started := false
	retry := backoff.Exp{Base: 5 * time.Second, Max: tr.cfg.MaxInterval, Jitter: 0.5}
	lastLeft := a.Stats().Left
	for {
		st := a.Stats()
		if started && event == tracker.None && lastLeft != 0 && st.Left == 0 {
			event = tracker.Completed
		}
		lastLeft = st.Left
		resp, err := tr.announce(ctx, cl, a, event, st)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait = retry.Next()
			tr.cfg.Logger.Debug("tracker announce failed", "tracker", tr.String(), "err", err, "retry in", wait)
		} else {
			retry.Reset()
			started = true
			event = tracker.None
			var peers []netip.AddrPort
			for _, p := range resp.Peers {
				if ap, ok := p.ToNetipAddrPort(); ok {
					peers = append(peers, ap)
				}
			}
			if len(peers) > 0 {
				a.Found(peers)
			}
			wait = min(max(time.Duration(resp.Interval)*time.Second, tr.cfg.MinInterval), tr.cfg.MaxInterval)
		}
		if !tr.sleep(ctx, wait, a, lastLeft) {
			break
		}
	}
	if started {
		// Say goodbye, briefly, on a context of our own.
		sctx, cancel := context.WithTimeout(context.Background(), min(tr.cfg.Timeout, 5*time.Second))
		defer cancel()
		_, _ = tr.announce(sctx, cl, a, tracker.Stopped, a.Stats())
	}
	return nil
}

// newClient returns the client that announces to the tracker: ours over
// HTTP (see MaxTrackerResponse), anacrolix's over UDP, whose replies are
// datagrams it reads into a 2 KiB buffer.
func (tr *Tracker) newClient() (announcer, error) {
	if u, err := url.Parse(tr.url); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return newHTTPTracker(u), nil
	}
	cl, err := tracker.NewClient(tr.url, tracker.NewClientOpts{Logger: alog.Default.WithFilterLevel(alog.Disabled)})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadURL, tr, redactErr(err, tr.url))
	}
	return cl, nil
}

// sleep waits for d, or until the download completes (to announce it at
// once), or ctx ends (false).
func (tr *Tracker) sleep(ctx context.Context, d time.Duration, a Announce, lastLeft int64) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-poll.C:
			if lastLeft != 0 && a.Stats().Left == 0 {
				return true
			}
		}
	}
}

func (tr *Tracker) announce(ctx context.Context, cl announcer, a Announce, ev tracker.AnnounceEvent, st Stats) (tracker.AnnounceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, tr.cfg.Timeout)
	defer cancel()
	left := st.Left
	if left < 0 {
		left = 1 << 62 // unknown: a leecher
	}
	req := tracker.AnnounceRequest{
		InfoHash:   a.InfoHash,
		PeerId:     a.PeerID,
		Downloaded: st.Downloaded,
		Uploaded:   st.Uploaded,
		Left:       left,
		Event:      ev,
		NumWant:    tr.cfg.NumWant,
		Port:       uint16(a.Port),
		Key:        int32(rand.Uint32()),
	}
	resp, err := cl.Announce(ctx, req, trHttp.AnnounceOpt{UserAgent: "bttspeed/0.1"})
	if err != nil {
		return resp, fmt.Errorf("discovery: announce %s to %s: %w", ev, tr, redactErr(err, tr.url))
	}
	return resp, nil
}
