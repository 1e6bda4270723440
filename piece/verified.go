package piece

import "slices"

// Hash results: crediting the peers that sent a piece, and smart ban
// (BEP-style block hashes) when a piece fails.

// Verified records the result of hashing piece i after PieceDone, without
// block hashes: VerifiedBlocks(i, ok, nil).
func (p *Picker) Verified(i int, ok bool) (charged, banned []PeerID) {
	return p.VerifiedBlocks(i, ok, nil)
}

// PieceSenders returns, for a piece whose blocks have all arrived (before
// VerifiedBlocks), the peer that sent each block.
func (p *Picker) PieceSenders(i int) []PeerID {
	pc := p.partials[i]
	if pc == nil || !pc.hashing {
		return nil
	}
	return append([]PeerID(nil), pc.senders...)
}

// NeedsBlockHashes reports whether piece i failed before, so that its
// per-block hashes should be passed to VerifiedBlocks: on failure to record
// the attempt, on success to find who sent the bad blocks.
func (p *Picker) NeedsBlockHashes(i int) bool { return len(p.failed[i]) > 0 }

// VerifiedBlocks records the result of hashing piece i after PieceDone, with
// the SHA-1 of each of its blocks as stored (nil if not computed).
//
// On success the piece is ours, and if it had failed before, every peer
// whose block in a failed attempt differs from the good block is proven
// bad. On failure the piece's blocks are discarded and will be fetched
// again, every peer that sent one is charged, and a peer that sent the whole
// piece alone is proven bad. Peers proven bad BanAfterBadPieces times are
// returned in banned and picked no more.
func (p *Picker) VerifiedBlocks(i int, ok bool, hashes [][20]byte) (charged, banned []PeerID) {
	pc := p.partials[i]
	if pc == nil || !pc.hashing {
		return nil, nil
	}
	delete(p.partials, i)
	for k, x := range p.partialList {
		if x == i {
			p.partialList = append(p.partialList[:k], p.partialList[k+1:]...)
			break
		}
	}
	prove := func(id PeerID) {
		ps := p.peers[id]
		if ps == nil || ps.banned {
			return
		}
		ps.bad++
		if ps.bad >= p.cfg.BanAfterBadPieces {
			ps.banned = true
			banned = append(banned, id)
		}
	}
	if ok {
		wanted := p.wants(i)
		p.have.Set(i)
		p.left -= p.layout.PieceSize(i)
		if p.urgentSet[i] {
			delete(p.urgentSet, i)
			p.urgentOld = true
		}
		if wanted {
			p.wantedLeft -= p.layout.PieceSize(i)
			for _, ps := range p.peers {
				if ps.has.Has(i) {
					ps.wanted--
				}
			}
		}
		if len(hashes) == len(pc.state) {
			var proven []PeerID
			for _, a := range p.failed[i] {
				if len(a.hashes) != len(hashes) {
					continue
				}
				for j, h := range a.hashes {
					if h != hashes[j] && a.senders[j] != NoPeer && !slices.Contains(proven, a.senders[j]) {
						proven = append(proven, a.senders[j])
					}
				}
			}
			for _, id := range proven {
				prove(id)
			}
		}
		delete(p.failed, i)
		return nil, banned
	}
	for _, s := range pc.senders {
		if s == NoPeer || slices.Contains(charged, s) {
			continue
		}
		charged = append(charged, s)
		if ps := p.peers[s]; ps != nil {
			ps.charged++
		}
	}
	if len(charged) == 1 {
		prove(charged[0])
	}
	if len(p.failed[i]) < 8 { // bound the memory a hostile swarm can cost
		p.failed[i] = append(p.failed[i], failedAttempt{senders: pc.senders, hashes: hashes})
	}
	if p.prio[i] != PriorityNone {
		p.unrequested += int64(p.realBlocks(i))
		p.bucketAdd(i)
	}
	return charged, banned
}
