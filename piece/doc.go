// Package piece keeps track of a torrent's pieces: which we have (Bitfield),
// how they split into 16 KiB blocks (Layout), which blocks to ask which peer
// for (Picker), and where the data lives (Storage).
//
// The Picker is pure: no goroutines, no clock, no I/O and no global
// randomness. The torrent's event loop owns it, feeds it what peers have and
// what arrived, and gets requests back: partial pieces first, then new
// pieces rarest first with a random tie-break, and in endgame duplicate
// requests for the last blocks with the cancels to send when one arrives.
// A piece whose hash fails is discarded and fetched again; the peers that
// sent its blocks are charged, and one that sent too many bad pieces is
// banned.
//
// Storage is the I/O part: block reads and writes over anacrolix/torrent's
// storage (file storage by default, mmap as an option), SHA-1 verification
// of v1 pieces, and a persistent piece-completion store (bbolt) so that a
// restarted download resumes without fetching verified pieces again.
package piece
