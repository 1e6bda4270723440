package devnet

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/fbsobreira/gotron-sdk/pkg/proto/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestClockAndBlocks(t *testing.T) {
	e := newEnv(t, Config{})
	num, ts := e.node.Head()
	assert.Equal(t, int64(1), num, "block 1 is mined at start")
	assert.WithinDuration(t, testGenesis.Truncate(BlockTime), ts, 0)
	assert.WithinDuration(t, testGenesis, e.node.Now(), 0)

	probe, info := e.deployProbe(0)
	assert.Equal(t, int64(2), info.BlockNumber)
	assert.Equal(t, ts.Add(BlockTime).UnixMilli(), info.BlockTimeStamp, "3 s after the previous block")
	assert.Equal(t, big.NewInt(info.BlockTimeStamp/1000), e.view(probe, "timestamp"))
	assert.Equal(t, big.NewInt(2), e.view(probe, "number"))
	assert.False(t, e.node.Now().Before(time.UnixMilli(info.BlockTimeStamp)), "the clock is never behind the head")

	// Advance moves the clock and mines a block at the new time, which
	// block.timestamp shows.
	before := e.node.Now()
	e.node.Advance(time.Hour)
	assert.WithinDuration(t, before.Add(time.Hour), e.node.Now(), 0)
	now, err := e.c.GetNowBlockCtx(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), now.BlockHeader.RawData.Number, "one block for the whole hour")
	want := before.Add(time.Hour).Truncate(BlockTime).Unix()
	assert.Equal(t, big.NewInt(want), e.view(probe, "timestamp"))
	assert.Empty(t, now.Transactions)

	// Less than a slot: the clock moves, no block.
	e.node.Advance(time.Second)
	n, _ := e.node.Head()
	assert.Equal(t, int64(3), n)
	e.node.Advance(0)
	e.node.Advance(-time.Hour)
	assert.WithinDuration(t, before.Add(time.Hour+time.Second), e.node.Now(), 0, "no going back")

	// Transactions land in blocks at the clock.
	info = e.trigger(1, probe, 10*SunPerTRX, "store", big.NewInt(1))
	assert.Equal(t, int64(4), info.BlockNumber)
	assert.Equal(t, want*1000+BlockTime.Milliseconds(), info.BlockTimeStamp)

	// Blocks chain: each names its parent.
	b3, err := e.c.GetBlockByNumCtx(e.ctx, 3)
	require.NoError(t, err)
	b4, err := e.c.GetBlockByNumCtx(e.ctx, 4)
	require.NoError(t, err)
	assert.Equal(t, b3.Blockid, b4.BlockHeader.RawData.ParentHash)
	missing, err := e.c.GetBlockByNumCtx(e.ctx, 99)
	require.NoError(t, err)
	assert.Nil(t, missing.BlockHeader)
}

func TestChainID(t *testing.T) {
	e := newEnv(t, Config{})
	probe, _ := e.deployProbe(0)
	genesis, err := e.c.GetBlockByNumCtx(e.ctx, 0)
	require.NoError(t, err)
	require.Len(t, genesis.Blockid, 32)
	want := uint64(genesis.Blockid[28])<<24 | uint64(genesis.Blockid[29])<<16 | uint64(genesis.Blockid[30])<<8 | uint64(genesis.Blockid[31])
	assert.Equal(t, want, e.node.ChainID(), "the genesis id's last 4 bytes")
	assert.Equal(t, uint64(DefaultChainID), e.node.ChainID(), "DefaultChainID")
	assert.Equal(t, new(big.Int).SetUint64(e.node.ChainID()), e.view(probe, "chainId"))

	// The same on every run, and settable (mainnet's here).
	other := newEnv(t, Config{Seed: "other"})
	assert.Equal(t, e.node.ChainID(), other.node.ChainID())
	mainnet := newEnv(t, Config{ChainID: 0x2b6653dc})
	probe, _ = mainnet.deployProbe(0)
	assert.Equal(t, uint64(0x2b6653dc), mainnet.node.ChainID())
	assert.Equal(t, big.NewInt(0x2b6653dc), mainnet.view(probe, "chainId"))
}

func TestFaultUnavailable(t *testing.T) {
	e := newEnv(t, Config{})
	tx := e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	e.node.SetUnavailable(true)
	_, err := e.c.GetNowBlockCtx(e.ctx)
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(errors.Unwrap(err)))
	_, err = e.c.BroadcastCtx(e.ctx, tx)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	e.node.SetUnavailable(false)
	_, err = e.c.GetNowBlockCtx(e.ctx)
	require.NoError(t, err)
	assert.True(t, e.broadcast(tx).Result, "the refused broadcast left no trace")
}

func TestFaultLatency(t *testing.T) {
	e := newEnv(t, Config{})
	e.node.SetLatency(150 * time.Millisecond)
	start := time.Now()
	_, err := e.c.GetNowBlockCtx(e.ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)

	// The caller's deadline ends the wait.
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = e.c.GetNowBlockCtx(ctx)
	assert.Equal(t, codes.DeadlineExceeded, status.Code(errors.Unwrap(err)))
	assert.Less(t, time.Since(start), 140*time.Millisecond)

	e.node.SetLatency(0)
	start = time.Now()
	_, err = e.c.GetNowBlockCtx(e.ctx)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
}

func TestFaultDropNext(t *testing.T) {
	e := newEnv(t, Config{})
	keys := e.node.Keys()
	e.node.DropNext(1)

	// A refused broadcast does not use up the drop.
	bad := e.sign(e.transferExt(0, 1, 1), keys[1])
	assert.False(t, e.broadcast(bad).Result)

	dropped := e.sign(e.transferExt(0, 1, 1), keys[0])
	ret := e.broadcast(dropped)
	require.True(t, ret.Result, "a dropped broadcast says SUCCESS")
	_, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, dropped))
	require.ErrorContains(t, err, "transaction info not found")
	_, err = e.c.GetTransactionByIDCtx(e.ctx, hexOf(t, dropped))
	require.ErrorContains(t, err, "transaction info not found")
	assert.Equal(t, DefaultAccountTRX, e.node.TRXBalance(e.addr(1)))

	// The next one goes through, and so does the dropped one sent again.
	info := e.send(e.transferExt(0, 1, 2), keys[0])
	assert.Equal(t, int64(2), info.BlockNumber, "the dropped one made no block")
	require.True(t, e.broadcast(dropped).Result)
	_, err = e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, dropped))
	require.NoError(t, err)
	assert.Equal(t, DefaultAccountTRX+3, e.node.TRXBalance(e.addr(1)))

	e.node.DropNext(5)
	e.node.DropNext(0)
	e.send(e.transferExt(0, 1, 4), keys[0])
}

func hexOf(t *testing.T, tx *core.Transaction) string {
	t.Helper()
	id, err := txID(tx.GetRawData())
	require.NoError(t, err)
	return hexID(id[:])
}

func TestFaultBlockDelay(t *testing.T) {
	e := newEnv(t, Config{})
	e.node.SetBlockDelay(30 * time.Second)
	tx := e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	require.True(t, e.broadcast(tx).Result, "accepted, waiting")
	_, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
	require.ErrorContains(t, err, "not found")

	e.node.Advance(20 * time.Second)
	n, _ := e.node.Head()
	assert.Equal(t, int64(1), n, "still held")
	_, err = e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
	require.ErrorContains(t, err, "not found")

	e.node.Advance(15 * time.Second)
	info, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
	require.NoError(t, err)
	assert.Equal(t, int64(2), info.BlockNumber)
	assert.Equal(t, testGenesis.Add(35*time.Second).Truncate(BlockTime).UnixMilli(), info.BlockTimeStamp)

	// Ending a delay early mines what waits.
	e.node.SetBlockDelay(time.Hour)
	tx = e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	require.True(t, e.broadcast(tx).Result)
	e.node.SetBlockDelay(0)
	_, err = e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
	require.NoError(t, err)

	// A transaction that expires while held is dropped.
	e.node.SetBlockDelay(time.Hour)
	tx = e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	require.True(t, e.broadcast(tx).Result)
	e.node.Advance(2 * time.Hour)
	_, err = e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
	require.ErrorContains(t, err, "not found")
	assert.Equal(t, DefaultAccountTRX+2, e.node.TRXBalance(e.addr(1)))
}

func TestBlockInterval(t *testing.T) {
	e := newEnv(t, Config{BlockInterval: 20 * time.Millisecond})
	tx := e.sign(e.transferExt(0, 1, 1), e.node.Keys()[0])
	require.True(t, e.broadcast(tx).Result)
	require.Eventually(t, func() bool {
		_, err := e.c.GetTransactionInfoByIDCtx(e.ctx, hexOf(t, tx))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	// Blocks keep coming, empty ones too, 3 s of chain time apart.
	n1, t1 := e.node.Head()
	require.Eventually(t, func() bool { n, _ := e.node.Head(); return n >= n1+2 }, 5*time.Second, 10*time.Millisecond)
	n2, t2 := e.node.Head()
	assert.GreaterOrEqual(t, t2.Sub(t1), time.Duration(n2-n1)*BlockTime)
	assert.False(t, e.node.Now().Before(t2))
}
