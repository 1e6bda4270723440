// Package metrics exports a peer.Client's figures to Prometheus: a
// prometheus.Collector any embedder registers beside its own metrics.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.New(cl, metrics.WithSpeed(ext)))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The figures are read at each scrape from the engine (Torrent.Stats and
// Torrent.Peers, one call each to every torrent's loop, and no Peers call
// for a torrent without peers) and, with WithSpeed, from the btt_speed
// extension. A scrape never waits on a stuck torrent for long: every
// torrent's calls share a deadline (WithTimeout, default 4 s), each at
// most a second, and a torrent that misses it keeps its last counters
// (so totals never go backwards) and counts in
// bttspeed_collect_timeouts_total. Torrents are read by a few workers at
// once (WithWorkers, default 8), since each read waits on its loop.
//
// # Metrics
//
// Every name starts with bttspeed_ (WithNamespace changes it). Byte
// counts are payload bytes; rates are bytes per second over about 20 s;
// prices are base units (10^-18 BTT) per byte, as the wire carries them;
// amounts of BTT are whole BTT as a float (display only: the store and
// the chain hold the exact amounts).
//
// The client's totals, without labels unless named:
//
//	bttspeed_torrents                          torrents the client has
//	bttspeed_peers{protocol}                   connected peers: btt_speed (they named the extension) or legacy
//	bttspeed_connections{transport,encrypted}  connections by transport (tcp, utp) and encrypted (true: RC4 through MSE/PE)
//	bttspeed_uploaded_bytes_total              uploaded since the collector was made (counter)
//	bttspeed_downloaded_bytes_total            downloaded since the collector was made (counter)
//	bttspeed_wasted_bytes_total                received and not wanted (counter)
//	bttspeed_upload_rate_bytes_per_second      sum of the peers' upload rates
//	bttspeed_download_rate_bytes_per_second    sum of the peers' download rates
//	bttspeed_pieces                            pieces of the torrents whose info is known
//	bttspeed_pieces_done                       of those, verified
//	bttspeed_left_bytes                        bytes still to download
//	bttspeed_slots_held{kind}                  peers we unchoke: paid (in a paid slot of the auction) or free
//	bttspeed_interested_peers                  peers interested in what we have
//	bttspeed_unchoked_by_peers                 peers that unchoke us (we may download from them)
//	bttspeed_collect_timeouts_total            torrents a scrape gave up waiting for (counter)
//
// The byte counters add up the torrents the client has and the last
// figures read of those it has removed: bytes a torrent moved between the
// last scrape and its removal are not counted.
//
// With WithSpeed and an extension that sells:
//
//	bttspeed_reserve_price_base_units_per_byte  the ask (reserve) price
//	bttspeed_clearing_price_base_units_per_byte highest price a paid slot pays now (0: none held)
//	bttspeed_highest_bid_base_units_per_byte    highest bid among connected peers
//	bttspeed_sold_bytes_total                   bytes sent in paid slots, this run (counter)
//	bttspeed_owed_btt                           what those bytes cost, this run
//	bttspeed_earned_btt                         the best vouchers' sum in the payee store (every run)
//	bttspeed_redeemed_btt                       of that, cashed on chain
//	bttspeed_redeemable_btt                     of that, not yet cashed
//
// With WithSpeed and an extension that buys:
//
//	bttspeed_spent_btt                          what the buyer signed vouchers for
//	bttspeed_budget_btt                         the buyer's budget
//	bttspeed_bid_base_units_per_byte            our highest bid now
//	bttspeed_won_slots                          paid slots we hold now
//
// Per torrent, labelled infohash (hex) and name (empty until the info
// is known) — WithoutTorrentSeries leaves them out for a client of many
// thousands of torrents:
//
//	bttspeed_torrent_peers{protocol}
//	bttspeed_torrent_uploaded_bytes_total
//	bttspeed_torrent_downloaded_bytes_total
//	bttspeed_torrent_upload_rate_bytes_per_second
//	bttspeed_torrent_download_rate_bytes_per_second
//	bttspeed_torrent_pieces
//	bttspeed_torrent_pieces_done
//	bttspeed_torrent_slots_held{kind}
//	bttspeed_torrent_clearing_price_base_units_per_byte  (selling)
//	bttspeed_torrent_sold_bytes                          (selling: to the peers connected now)
//	bttspeed_torrent_bid_base_units_per_byte             (buying: our highest bid now)
//
// A torrent's sold bytes count its peers connected now: a payment channel
// pays for what its payer got of every torrent, so earnings are per
// channel and the client's, not per torrent.
package metrics
