// Package peer is a BitTorrent engine: a Client listens for and dials
// peers, and runs any number of Torrents, each of which downloads and
// seeds one torrent over the peer wire protocol (BEP 3), with the fast
// extension (BEP 6), the extension protocol (BEP 10) and magnet links'
// metadata exchange (BEP 9). Choking is a choker.Policy; extensions such
// as btt_speed (package peer/speed) plug in through Extension without a
// change to the engine.
//
// # Who owns what
//
// The Client owns the listener and the map of torrents (Client.mu guards
// the map only, and is never held across I/O). Its accept loop runs each
// incoming handshake on a goroutine of its own, then posts the connection
// to its torrent's loop.
//
// Each Torrent has one goroutine, its loop (loop.go: run), that owns all
// of the torrent's state: the picker, the info and layout, the map of
// connections, the candidates to dial, the metadata fetch, and each
// connection's loopPeer (conn.ls). Nothing else reads or writes those.
// Other goroutines talk to the loop by posting an event (Torrent.post,
// which never blocks past the torrent's end) or by running a function on
// it and waiting (Torrent.do). Extensions post functions through the
// torrent's mailbox (mailbox.go: ExtPeer.Post, which never blocks, and
// ExtPeer.Do, which waits), so that one torrent's loop can wake a peer of
// another without waiting on it.
//
// Each connection has two more goroutines. Its reader (reader.go:
// readLoop) owns the socket's read side: it decodes and vets each message
// and posts it to the loop. Its writer (writer.go: writeLoop) owns the
// write side: it drains the connection's queue (queue.go), reading the
// blocks it serves from storage itself. The queue is guarded by conn.mu,
// so the loop queues messages (send, sendMarked) and uploads (serve,
// unserve) without blocking; a peer whose queue outgrows its bound is
// dropped rather than block anyone. The payload counters (uploaded,
// uploadedFree, downloaded) are atomics, safe from any goroutine.
//
// The disk queue (disk.go) has a few workers per torrent that write
// received blocks and hash finished pieces in order, off the loop. They
// post results back (evHashDone, evStorageErr) and wake the loop when the
// queue drains below its low mark; the loop stops requesting while it is
// above its high mark.
//
// Dialers, peer sources and the goroutines extensions start with
// ExtPeer.Go run under the torrent's WaitGroup and stop with its context;
// Torrent.Close waits for all of them.
//
// The embedding API (files, readers, events) adds no goroutine to the
// loop's side. A Reader runs on its caller's goroutine: it waits on a copy
// of the verified pieces (haveSet, guarded by its own mutex) and posts its
// window to the loop through the mailbox when it moves a piece; the loop
// turns windows and file priorities into piece priorities in the picker.
// Each Subscribe has one goroutine, which ends with its context, draining
// a bounded queue the loop fills without blocking.
//
// # Which methods are safe where
//
// Unless their doc says otherwise, the exported methods of Client and
// Torrent are safe from any goroutine but the torrent's loop: those that
// need loop state run on it through Torrent.do and wait for it, which on
// the loop itself would never return. Torrent.PieceSize reads loop state and is
// for extension handlers, which run on the loop.
//
// Every method of Extension, ExtHandler and the optional handler
// interfaces (ServeGate, ChokeStatter, PieceObserver, BlockObserver, Busy,
// Settler) is called on the loop and must not block. The methods of
// ConcurrentExtPeer are safe from any goroutine; the rest of ExtPeer's are
// for the loop, but Do, which is for goroutines that are no loop. The
// written callback of MarkedSender runs on the connection's writer.
//
// # Networks
//
// A client listens on TCP and dials over TCP unless Config.Listener and
// Config.Dial say otherwise (net.go); peer/peertest is an in-memory
// network for them, on which tests run without sockets, and inside a
// testing/synctest bubble.
//
// # Files
//
// client.go (Client), listen.go (accepting), spec.go (TorrentSpec),
// torrent.go (Torrent, post/do, Close), loop.go (the loop: events, tick,
// shutdown), info.go (installing the info: storage, picker), conns.go
// (adding and dropping connections), dial.go (candidates, sources,
// dialing), conn.go (a connection and the loop's state about it),
// queue.go and writer.go (the write side), reader.go (the read side),
// wire.go (handshake, encoding), dispatch.go (one message to its handler),
// have.go (what peers have), request.go (interest, the request pipeline),
// download.go (received blocks, hash results), upload.go (requests, serve
// gates, held requests), choke.go (rechoke), fast.go (BEP 6),
// extension.go and extpeer.go (the extension API), ltep.go (BEP 10),
// metadata.go (BEP 9), extcheck.go (vetting extension payloads),
// mailbox.go (functions posted to the loop), net.go (the injectable
// listener and dialer), mse.go (MSE/PE handshakes), pex.go (BEP 11),
// private.go (BEP 27 for peer sources), files.go, embed.go and treader.go
// (files, priorities, readers), subscribe.go (events), disk.go (the disk
// queue), ban.go, observer.go, stats.go, config.go, errors.go, events.go;
// for embedders: files.go (files, priorities), treader.go (readers,
// StreamState), embed.go (their state), subscribe.go (events), pause.go
// (pause, sequential, rate limits), inventory.go (Torrents, Remove,
// Metainfo).
package peer
