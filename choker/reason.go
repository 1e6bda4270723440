package choker

import "strconv"

// Reason says why a peer was choked or unchoked. It is a small enum so that
// a Decision costs no allocation per peer; String gives the text.
type Reason uint8

// The reasons every policy may give. Policies add no others without adding
// them here, with their text.
const (
	ReasonNone              Reason = iota
	ReasonNotInterested            // choked: the peer wants nothing from us
	ReasonTopRate                  // unchoked: among the best rates
	ReasonOptimistic               // unchoked: holds the optimistic / free slot
	ReasonOutranked                // choked: others have better rates
	ReasonSnubbed                  // choked: sent nothing for too long
	ReasonWonAuction               // unchoked: bid at or above the clearing price
	ReasonLostAuction              // choked: bid below the clearing price
	ReasonBelowReserve             // choked: bid below the reserve price
	ReasonNoBid                    // choked: speaks btt_speed but has not bid; or legacy without the free slot
	ReasonOverCredit               // choked: unpaid bytes exceed its credit
	ReasonProportionalShare        // unchoked: PropShare, by its share of what we received
	ReasonRoundRobin               // unchoked: its turn in the round-robin seed policy
	ReasonAntiLeech                // unchoked: ranked by the anti-leech seed policy
)

var reasonText = [...]string{
	ReasonNone:              "",
	ReasonNotInterested:     "not interested",
	ReasonTopRate:           "among the best rates",
	ReasonOptimistic:        "optimistic slot",
	ReasonOutranked:         "outranked by faster peers",
	ReasonSnubbed:           "snubbed: no block for too long",
	ReasonWonAuction:        "won the auction",
	ReasonLostAuction:       "bid below the clearing price",
	ReasonBelowReserve:      "bid below the reserve price",
	ReasonNoBid:             "no bid",
	ReasonOverCredit:        "unpaid bytes exceed credit",
	ReasonProportionalShare: "proportional share",
	ReasonRoundRobin:        "round-robin turn",
	ReasonAntiLeech:         "anti-leech rank",
}

func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}
