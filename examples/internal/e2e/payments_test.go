package e2e_test

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/paychan"
	"github.com/bttspeed/bttspeed/tron/devnet"
)

// TestTopUpPaysEveryPiece: a leecher whose channel runs dry several times
// in one download (a deposit of a seventh of its cost) on a node with
// 20 ms round trips, so that each top-up takes a while and pieces are
// verified meanwhile, still pays for every piece it bought: no crash, no
// kill, one seeder, one buyer, so every piece comes in its paid slot. (The
// crash tests found pieces verified during a top-up left unpaid, waiting
// for an award that did not come, with the leecher lingering until
// -linger ended: fixed in peer/speed by 7d8ce29.)
func TestTopUpPaysEveryPiece(t *testing.T) {
	needBins(t)
	node, err := devnet.Start(context.Background(), devnet.Config{Seed: "e2e-topup", Accounts: 2, DeployContracts: true})
	require.NoError(t, err)
	defer node.Close()
	node.SetLatency(20 * time.Millisecond)

	work := t.TempDir()
	data := filepath.Join(work, "file.bin")
	buf := make([]byte, crashFileSize)
	_, _ = rand.NewChaCha8([32]byte{42}).Read(buf)
	require.NoError(t, os.WriteFile(data, buf, 0o644))
	common := []string{"-chain", node.Addr(), "-log-format", "json"}
	s := start(t, "seeder", bins.seeder, env(keyEnv(node, 0)), append(common, "-state", filepath.Join(work, "seeder-state"), "-listen", "127.0.0.1:0",
		"-rechoke", "200ms", "-reserve", strconv.Itoa(crashReserve), "-piece-length", "32KiB", "-upload-rate", crashUploadRate, "-redeem-every", "1h", data)...)
	s.line("seeding", 30*time.Second)
	var ih [20]byte
	_, err = hex.Decode(ih[:], []byte(s.line("infohash: ", time.Second)))
	require.NoError(t, err)
	lstate := filepath.Join(work, "leecher-state")
	l := start(t, "leecher", bins.leecher, env(keyEnv(node, 1)), append(common, "-state", lstate, "-torrent", data+".torrent", "-dir", filepath.Join(work, "dl"),
		"-budget", "1", "-deposit", "300000000base", "-strategy", "fixed", "-price", "3000", "-peer", s.line("listening: ", time.Second),
		"-listen", "127.0.0.1:0", "-rechoke", "200ms", "-progress", "1h", "-linger", "2s")...)
	require.Equal(t, 0, l.wait(60*time.Second), "leecher exit code")
	sameFile(t, data, filepath.Join(work, "dl", "file.bin"))
	topUps := strings.Count(l.err.String(), `"msg":"channel topped up"`)
	require.Positive(t, topUps, "the channel was topped up")

	st, err := paychan.OpenStore(filepath.Join(lstate, "payer.db"))
	require.NoError(t, err)
	defer st.Close()
	paid, err := st.PaidPieces(ih)
	require.NoError(t, err)
	recs, err := st.Payers()
	require.NoError(t, err)
	require.Len(t, recs, 1)
	perPiece, err := btt.NewAmount(crashReserve).MulUint64(crashPieceLen)
	require.NoError(t, err)
	cost, err := perPiece.MulUint64(uint64(len(paid)))
	require.NoError(t, err)
	assert.Equal(t, cost, recs[0].Signed, "what was signed is what the paid pieces cost")
	assert.False(t, recs[0].Signed.Gt(recs[0].Channel.Deposit), "never past the deposit")

	const pieces = crashFileSize / crashPieceLen
	assert.Len(t, paid, pieces, "every piece paid for")
	assert.NotContains(t, l.err.String(), "stopped waiting for the paying connections", "the paying connection closed once everything was paid")
}
