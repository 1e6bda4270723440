package peer

// MaxServeBatch is maxServeBatch: how many queued blocks the writer takes
// at once (TestChokeDropsTakenBlocks).
const MaxServeBatch = maxServeBatch
