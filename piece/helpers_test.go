package piece

import (
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func bencodeInfo(info *metainfo.Info) ([]byte, error) { return bencode.Marshal(info) }
