// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title BttSpeedEscrow: one-way, cumulative TRC-20/ERC-20 payment channels
/// @notice A payer deposits tokens for one payee with an expiry. Off chain,
/// the payer signs vouchers for the cumulative amount owed; the payee redeems
/// the best one on chain with `claim` (channel stays open) or `close` (the
/// rest goes back to the payer, or, if the token refuses to credit it, is
/// kept for the payer to `withdraw`: the payee's payout never depends on
/// the payer's transfer). After the expiry the payer takes back what
/// was not redeemed with `reclaim`. A payer may also close early with
/// `startClose`: the payee then has `challengePeriod` seconds to redeem
/// before the payer can reclaim.
/// @dev Compiled for evmVersion "london" (TRON's TVM lacks PUSH0 and later
/// opcodes). Every revert carries one of the fixed "escrow: ..." strings the
/// Go client maps to paychan errors; do not reword them. The token is called
/// with low-level calls whose return value is ignored (TRON's USDT returns
/// false on success); each transfer is instead checked by the change in the
/// receiver's balance, which also rejects fee-on-transfer tokens.
contract BttSpeedEscrow {
    /// @notice Channel states; the numbering is paychan.ChannelState's.
    uint8 private constant UNKNOWN = 0;
    uint8 private constant OPEN = 1;
    uint8 private constant CLOSING = 2;
    uint8 private constant CLOSED = 3;

    /// @dev keccak256 of paychan.VoucherTypeString (the TIP-191 scheme).
    bytes32 private constant VOUCHER_TYPEHASH =
        keccak256("BttSpeedVoucher(uint256 chainId,address escrow,bytes32 channelId,uint256 amount)");

    /// @notice Voucher digest schemes (paychan.DigestScheme, the same
    /// numbers): TIP191 (0) on TRON, EIP712 (1), typed data, on EVM chains
    /// (BTTC). The ABI decoder refuses any other constructor argument.
    enum VoucherScheme {
        TIP191,
        EIP712
    }

    /// @dev EIP-712: the domain's type hash, the domain's name and version
    /// (paychan.EIP712Name, paychan.EIP712Version), and keccak256 of
    /// paychan.EIP712VoucherType.
    bytes32 private constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant EIP712_NAME_HASH = keccak256("BttSpeed");
    bytes32 private constant EIP712_VERSION_HASH = keccak256("1");
    bytes32 private constant EIP712_VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 amount)");

    /// @dev secp256k1n / 2: a signature with a larger s is the malleable
    /// twin of a low-s one and is refused.
    uint256 private constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @dev Selectors of the TRC-20 functions the escrow calls.
    bytes4 private constant BALANCE_OF = 0x70a08231; // balanceOf(address)
    bytes4 private constant TRANSFER = 0xa9059cbb; // transfer(address,uint256)
    bytes4 private constant TRANSFER_FROM = 0x23b872dd; // transferFrom(address,address,uint256)

    /// @dev One channel, packed into four storage slots.
    struct Channel {
        address payer;
        uint64 expiry;
        uint8 state;
        address payee;
        uint64 challengeEnd;
        uint256 deposit;
        uint256 paid;
    }

    /// @notice The TRC-20 token every channel of this escrow is paid in.
    address public immutable token;

    /// @notice Seconds the payee has to redeem after the payer's startClose.
    uint64 public immutable challengePeriod;

    /// @notice The digest vouchers of this escrow are signed over, fixed at
    /// deploy (a chain's wallets sign one or the other; the chain id alone
    /// does not say which).
    VoucherScheme public immutable voucherScheme;

    /// @notice The longest a channel may run: open and topUp refuse an
    /// expiry more than MAX_LIFETIME after the block's time, so every
    /// expiry fits the int64 seconds clients read it into.
    uint64 public constant MAX_LIFETIME = 365 days;

    /// @notice The shortest challenge period the constructor takes: a
    /// payee must have time to see a startClose and get a redeem mined.
    uint64 public constant MIN_CHALLENGE_PERIOD = 1 minutes;

    /// @notice The longest challenge period the constructor takes: a payer
    /// who closes early gets the rest back within it.
    uint64 public constant MAX_CHALLENGE_PERIOD = 30 days;

    /// @notice The most gas close gives the token for the payer's refund:
    /// enough for any plain TRC-20 transfer (TRON's USDT to a new holder,
    /// with dynamic energy, is under 200k), and a bound on what a token
    /// that burns gas on the payer's credit costs the payee. A refund that
    /// fails within it is kept in `refunds`.
    uint256 public constant REFUND_GAS = 300_000;

    /// @notice Number of channels opened so far; channel n's id hashes n.
    uint64 public nonce;

    mapping(bytes32 => Channel) private _channels;

    /// @dev Re-entrancy lock: 1 unlocked, 2 inside a state-changing call.
    uint256 private _lock = 1;

    /// @notice Refunds close could not pay: what the token refused to
    /// credit each payer, for the payer to take with `withdraw`.
    mapping(address => uint256) public refunds;

    /// @notice A channel was opened with `deposit` tokens until `expiry`.
    event ChannelOpened(bytes32 indexed id, address indexed payer, address indexed payee, uint256 deposit, uint64 expiry);
    /// @notice The payer added `amount` (now `deposit` in all) and set the
    /// expiry to `expiry`.
    event ToppedUp(bytes32 indexed id, uint256 amount, uint256 deposit, uint64 expiry);
    /// @notice The payee redeemed a voucher: `amount` paid out now, `paid`
    /// redeemed in all.
    event Claimed(bytes32 indexed id, uint256 amount, uint256 paid);
    /// @notice The payer started an early close; the payee may redeem until
    /// `challengeEnd`.
    event CloseStarted(bytes32 indexed id, uint64 challengeEnd);
    /// @notice The payee closed the channel: `paid` redeemed in all, `refund`
    /// returned to the payer.
    event Closed(bytes32 indexed id, uint256 paid, uint256 refund);
    /// @notice The payer took back `refund` after the expiry or the challenge
    /// window.
    event Reclaimed(bytes32 indexed id, uint256 refund);
    /// @notice close's refund of `amount` to `payer` failed (the token
    /// refused it) and is kept in `refunds[payer]`.
    event RefundHeld(bytes32 indexed id, address indexed payer, uint256 amount);
    /// @notice `payer` took `amount` of its held refunds.
    event Withdrawn(address indexed payer, uint256 amount);

    /// @param token_ The TRC-20 token channels are paid in.
    /// @param challengePeriod_ Seconds the payee has to redeem after the
    /// payer starts an early close; from MIN_CHALLENGE_PERIOD to
    /// MAX_CHALLENGE_PERIOD.
    /// @param voucherScheme_ TIP191 (TRON) or EIP712 (EVM chains).
    constructor(address token_, uint64 challengePeriod_, VoucherScheme voucherScheme_) {
        require(
            challengePeriod_ >= MIN_CHALLENGE_PERIOD && challengePeriod_ <= MAX_CHALLENGE_PERIOD,
            "escrow: bad challenge period"
        );
        token = token_;
        challengePeriod = challengePeriod_;
        voucherScheme = voucherScheme_;
    }

    /// @dev Refuses a call made while another state-changing call is running
    /// (a token calling back into the escrow).
    modifier nonReentrant() {
        require(_lock == 1, "escrow: reentrant call");
        _lock = 2;
        _;
        _lock = 1;
    }

    // ---------------------------------------------------------------- payer

    /// @notice Opens a channel to `payee`, pulling `deposit` tokens from the
    /// caller (who must have approved the escrow for them).
    /// @dev The id is keccak256(abi.encodePacked(address(this), payer, payee,
    /// nonce)) with the nonce incremented first, so the first channel hashes
    /// nonce 1 (8 bytes big-endian).
    /// @param payee Who may redeem the payer's vouchers; not zero, not the
    /// caller, not the escrow.
    /// @param deposit Tokens locked for the payee; above zero.
    /// @param expiry Unix seconds after which the payee can no longer redeem
    /// and the payer can reclaim; in the future, at most MAX_LIFETIME ahead.
    /// @return id The new channel's id.
    function open(address payee, uint256 deposit, uint64 expiry) external nonReentrant returns (bytes32 id) {
        require(deposit > 0, "escrow: zero deposit");
        require(payee != address(0) && payee != msg.sender && payee != address(this), "escrow: bad payee");
        require(expiry > block.timestamp, "escrow: expiry in the past");
        require(expiry <= block.timestamp + MAX_LIFETIME, "escrow: expiry too far");

        uint64 n = nonce + 1;
        nonce = n;
        id = keccak256(abi.encodePacked(address(this), msg.sender, payee, n));
        _channels[id] = Channel({
            payer: msg.sender,
            expiry: expiry,
            state: OPEN,
            payee: payee,
            challengeEnd: 0,
            deposit: deposit,
            paid: 0
        });
        emit ChannelOpened(id, msg.sender, payee, deposit, expiry);

        _pull(msg.sender, deposit);
    }

    /// @notice Adds `amount` tokens (possibly zero) to an open channel and
    /// moves its expiry to `expiry`, which may only stay or extend.
    /// @param id The channel.
    /// @param amount Tokens to add, pulled from the payer.
    /// @param expiry The new expiry; not before the current one, at most
    /// MAX_LIFETIME after now.
    function topUp(bytes32 id, uint256 amount, uint64 expiry) external nonReentrant {
        Channel storage ch = _live(id);
        require(msg.sender == ch.payer, "escrow: not payer");
        require(ch.state == OPEN, "escrow: channel not open");
        require(expiry >= ch.expiry, "escrow: expiry may only extend");
        require(expiry <= block.timestamp + MAX_LIFETIME, "escrow: expiry too far");

        uint256 deposit = ch.deposit + amount;
        ch.deposit = deposit;
        ch.expiry = expiry;
        emit ToppedUp(id, amount, deposit, expiry);

        _pull(msg.sender, amount);
    }

    /// @notice Starts an early close: the payee may still redeem for
    /// `challengePeriod` seconds, then the payer can reclaim the rest.
    /// @param id The channel; open, the caller its payer.
    function startClose(bytes32 id) external nonReentrant {
        Channel storage ch = _live(id);
        require(msg.sender == ch.payer, "escrow: not payer");
        require(ch.state == OPEN, "escrow: channel not open");

        uint64 end = uint64(block.timestamp) + challengePeriod;
        ch.state = CLOSING;
        ch.challengeEnd = end;
        emit CloseStarted(id, end);
    }

    /// @notice Returns what the payee did not redeem (deposit - paid) to the
    /// payer and closes the channel. Allowed once an open channel has
    /// expired, or once a closing channel's challenge window has ended.
    /// @param id The channel; the caller its payer.
    function reclaim(bytes32 id) external nonReentrant {
        Channel storage ch = _live(id);
        require(msg.sender == ch.payer, "escrow: not payer");
        uint8 state = ch.state;
        require(
            (state == OPEN && block.timestamp >= ch.expiry) || (state == CLOSING && block.timestamp >= ch.challengeEnd),
            "escrow: not expired"
        );

        uint256 refund = ch.deposit - ch.paid;
        ch.state = CLOSED;
        emit Reclaimed(id, refund);

        _push(ch.payer, refund);
    }

    /// @notice Pays the caller the refunds close held for it (those the
    /// token refused to credit then).
    function withdraw() external nonReentrant {
        uint256 amount = refunds[msg.sender];
        require(amount > 0, "escrow: nothing to withdraw");
        refunds[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);

        _push(msg.sender, amount);
    }

    // ---------------------------------------------------------------- payee

    /// @notice Redeems a voucher and keeps the channel open: pays the payee
    /// `amount - paid`.
    /// @param id The channel; the caller its payee.
    /// @param amount The voucher's cumulative amount; above what was already
    /// redeemed, at most the deposit.
    /// @param sig The payer's 65-byte signature (r || s || v) over
    /// voucherDigest(id, amount).
    function claim(bytes32 id, uint256 amount, bytes calldata sig) external nonReentrant {
        Channel storage ch = _live(id);
        require(msg.sender == ch.payee, "escrow: not payee");
        _checkRedeem(ch, id, amount, sig);
        uint256 paid = ch.paid;
        require(amount > paid, "escrow: not increasing");

        uint256 payout = amount - paid;
        ch.paid = amount;
        emit Claimed(id, payout, amount);

        _push(ch.payee, payout);
    }

    /// @notice Redeems a voucher and closes the channel: pays the payee
    /// `amount - paid` and refunds `deposit - amount` to the payer. The
    /// payee is paid first and whatever the refund does: a refund the
    /// token refuses (a blacklist, a pause, a hook; or more than
    /// REFUND_GAS) is kept in `refunds[payer]` for `withdraw`.
    /// @param id The channel; the caller its payee.
    /// @param amount The voucher's cumulative amount; at least what was
    /// already redeemed (equal pays nothing more), at most the deposit.
    /// @param sig The payer's 65-byte signature over voucherDigest(id,
    /// amount).
    function close(bytes32 id, uint256 amount, bytes calldata sig) external nonReentrant {
        Channel storage ch = _live(id);
        require(msg.sender == ch.payee, "escrow: not payee");
        _checkRedeem(ch, id, amount, sig);
        uint256 paid = ch.paid;
        require(amount >= paid, "escrow: not increasing");

        uint256 payout = amount - paid;
        uint256 refund = ch.deposit - amount;
        ch.paid = amount;
        ch.state = CLOSED;
        emit Closed(id, amount, refund);

        _push(ch.payee, payout);
        if (!_tryPush(ch.payer, refund, REFUND_GAS)) {
            refunds[ch.payer] += refund;
            emit RefundHeld(id, ch.payer, refund);
        }
    }

    // ---------------------------------------------------------------- views

    /// @notice A channel's record; all zero (state 0) for an unknown id.
    function channels(bytes32 id)
        external
        view
        returns (
            address payer,
            address payee,
            uint256 deposit,
            uint256 paid,
            uint64 expiry,
            uint64 challengeEnd,
            uint8 state
        )
    {
        Channel storage ch = _channels[id];
        return (ch.payer, ch.payee, ch.deposit, ch.paid, ch.expiry, ch.challengeEnd, ch.state);
    }

    /// @notice The digest a payer signs for a voucher of cumulative `amount`
    /// on channel `id` of this escrow on this chain. With TIP191 the
    /// TIP-191 hash keccak256("\x19TRON Signed Message:\n32" || inner) of
    /// inner = keccak256(abi.encode(keccak256("BttSpeedVoucher(uint256
    /// chainId,address escrow,bytes32 channelId,uint256 amount)"),
    /// block.chainid, address(this), id, amount)); with EIP712 the
    /// EIP-712 hash keccak256("\x19\x01" || domainSeparator() ||
    /// keccak256(abi.encode(keccak256("Voucher(bytes32 channelId,uint256
    /// amount)"), id, amount))). Equal to Go's paychan.Voucher.Digest()
    /// with the escrow's scheme.
    function voucherDigest(bytes32 id, uint256 amount) public view returns (bytes32) {
        if (voucherScheme == VoucherScheme.EIP712) {
            bytes32 structHash = keccak256(abi.encode(EIP712_VOUCHER_TYPEHASH, id, amount));
            return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
        }
        bytes32 inner = keccak256(abi.encode(VOUCHER_TYPEHASH, block.chainid, address(this), id, amount));
        return keccak256(abi.encodePacked("\x19TRON Signed Message:\n32", inner));
    }

    /// @notice The EIP-712 domain separator of this escrow on this chain:
    /// keccak256(abi.encode(keccak256("EIP712Domain(string name,string
    /// version,uint256 chainId,address verifyingContract)"),
    /// keccak256("BttSpeed"), keccak256("1"), block.chainid,
    /// address(this))). Computed on every call, so it follows a fork's
    /// chain id. Only EIP712 vouchers use it.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, EIP712_NAME_HASH, EIP712_VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice Checks a voucher as a redeem now would — channel state,
    /// redeem window, deposit, signature — and returns its signer, the
    /// payer. It reverts with the reason the redeem would revert with. It
    /// checks neither the caller nor the amount against what was already
    /// redeemed (claim needs amount > paid, close amount >= paid).
    function checkVoucher(bytes32 id, uint256 amount, bytes calldata sig) external view returns (address signer) {
        return _checkRedeem(_live(id), id, amount, sig);
    }

    // ------------------------------------------------------------ internals

    /// @dev The channel `id`, which must exist and not be closed.
    function _live(bytes32 id) private view returns (Channel storage ch) {
        ch = _channels[id];
        uint8 state = ch.state;
        require(state != UNKNOWN, "escrow: unknown channel");
        require(state != CLOSED, "escrow: channel closed");
    }

    /// @dev The checks of a redeem after the caller's: inside the window,
    /// within the deposit, signed by the payer. Returns the payer.
    function _checkRedeem(Channel storage ch, bytes32 id, uint256 amount, bytes calldata sig)
        private
        view
        returns (address payer)
    {
        uint256 deadline = ch.state == CLOSING ? ch.challengeEnd : ch.expiry;
        require(block.timestamp < deadline, "escrow: redeem window over");
        require(amount <= ch.deposit, "escrow: over deposit");
        payer = ch.payer;
        require(_recover(voucherDigest(id, amount), sig) == payer, "escrow: bad signature");
    }

    /// @dev The signer of `digest`: `sig` is r || s || v, v in {0, 1, 27,
    /// 28}; zero r or s and high s are refused.
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        require(sig.length == 65, "escrow: bad signature");
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) {
            v += 27;
        }
        require(v == 27 || v == 28, "escrow: bad signature");
        require(r != 0 && s != 0 && uint256(s) <= HALF_N, "escrow: bad signature");
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "escrow: bad signature");
    }

    /// @dev `who`'s token balance; a token that does not answer is a failed
    /// transfer.
    function _balanceOf(address who) private view returns (uint256 bal) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(BALANCE_OF, who));
        require(ok && ret.length >= 32, "escrow: token transfer failed");
        bal = abi.decode(ret, (uint256));
    }

    /// @dev Calls the token without copying its return data (ignored: some
    /// tokens return false, or nothing, on success).
    function _callToken(bytes memory data) private {
        address t = token;
        bool ok;
        assembly {
            ok := call(gas(), t, 0, add(data, 32), mload(data), 0, 0)
        }
        require(ok, "escrow: token transfer failed");
    }

    /// @dev Moves `amount` tokens from `from` into the escrow; the escrow's
    /// balance must grow by exactly `amount`.
    function _pull(address from, uint256 amount) private {
        if (amount == 0) {
            return;
        }
        uint256 before = _balanceOf(address(this));
        _callToken(abi.encodeWithSelector(TRANSFER_FROM, from, address(this), amount));
        uint256 afterwards = _balanceOf(address(this));
        require(afterwards >= before && afterwards - before == amount, "escrow: token transfer failed");
    }

    /// @dev Tries to pay `amount` tokens to `to`, giving the token at most
    /// `gasCap` gas for the transfer; reports whether `to`'s balance grew
    /// by exactly `amount`. Never reverts, whatever the token does.
    function _tryPush(address to, uint256 amount, uint256 gasCap) private returns (bool) {
        if (amount == 0) {
            return true;
        }
        (bool ok, uint256 before) = _tryBalanceOf(to);
        if (!ok) {
            return false;
        }
        bytes memory data = abi.encodeWithSelector(TRANSFER, to, amount);
        address t = token;
        assembly {
            ok := call(gasCap, t, 0, add(data, 32), mload(data), 0, 0)
        }
        if (!ok) {
            return false;
        }
        uint256 afterwards;
        (ok, afterwards) = _tryBalanceOf(to);
        return ok && afterwards >= before && afterwards - before == amount;
    }

    /// @dev `who`'s token balance, or false if the token does not answer
    /// it (within REFUND_GAS).
    function _tryBalanceOf(address who) private view returns (bool ok, uint256 bal) {
        bytes memory ret;
        (ok, ret) = token.staticcall{gas: REFUND_GAS}(abi.encodeWithSelector(BALANCE_OF, who));
        if (!ok || ret.length < 32) {
            return (false, 0);
        }
        bal = abi.decode(ret, (uint256));
    }

    /// @dev Pays `amount` tokens to `to`; `to`'s balance must grow by
    /// exactly `amount`.
    function _push(address to, uint256 amount) private {
        if (amount == 0) {
            return;
        }
        uint256 before = _balanceOf(to);
        _callToken(abi.encodeWithSelector(TRANSFER, to, amount));
        uint256 afterwards = _balanceOf(to);
        require(afterwards >= before && afterwards - before == amount, "escrow: token transfer failed");
    }
}
