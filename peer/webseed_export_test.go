package peer

import "github.com/anacrolix/torrent/metainfo"

// WebSeedURLs is the client's webSeedURLs, for tests: what AddTorrent
// gives AddWebSeeds.
func (cl *Client) WebSeedURLs(mi *metainfo.MetaInfo, m *metainfo.MagnetV2, extra []string) ([]string, error) {
	return cl.webSeedURLs(mi, m, extra)
}

// WebSeedDownloaded is webSeedDownloaded, for tests.
func (t *Torrent) WebSeedDownloaded() int64 { return t.webSeedDownloaded() }
