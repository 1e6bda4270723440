// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Misbehaving TRC-20 tokens for the escrow's tests (never deployed
/// anywhere else).
/// @dev Each is a plain token with open minting and one quirk.

/// @notice The shared ledger: balances, allowances, open mint, and a
/// `_move` that credits the receiver `amount - _fee(amount)`.
abstract contract QuirkyBase {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Anyone may mint: these tokens only live in tests.
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @dev What the token keeps of a transfer of `amount`.
    function _fee(uint256) internal view virtual returns (uint256) {
        return 0;
    }

    function _spend(address from, uint256 amount) internal {
        require(allowance[from][msg.sender] >= amount, "token: insufficient allowance");
        allowance[from][msg.sender] -= amount;
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "token: insufficient balance");
        uint256 fee = _fee(amount);
        balanceOf[from] -= amount;
        balanceOf[to] += amount - fee;
        totalSupply -= fee;
        emit Transfer(from, to, amount - fee);
    }
}

/// @notice Moves tokens but returns false, as TRON's USDT does.
contract FalseReturnToken is QuirkyBase {
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return false;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return false;
    }
}

/// @notice Moves tokens and returns nothing, as Ethereum's USDT does.
contract NoReturnToken is QuirkyBase {
    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        _spend(from, amount);
        _move(from, to, amount);
    }
}

/// @notice While the fee is on (from deployment), burns one base unit of
/// every non-zero transfer: the receiver gets less than was sent.
contract FeeOnTransferToken is QuirkyBase {
    bool public feeOn = true;

    /// @notice Turns the fee on or off.
    function setFee(bool on) external {
        feeOn = on;
    }

    function _fee(uint256 amount) internal view override returns (uint256) {
        return feeOn && amount > 0 ? 1 : 0;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }
}

/// @notice Calls back a set target with set data on its next transfer,
/// and records how that call ended.
contract ReentrantToken is QuirkyBase {
    address public hookTarget;
    bytes public hookData;
    bool public hookCalled;
    bool public hookOk;
    bytes public hookResult;

    /// @notice Arms the hook for the next transfer or transferFrom.
    function setHook(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        _hook();
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spend(from, amount);
        _move(from, to, amount);
        _hook();
        return true;
    }

    function _hook() private {
        address target = hookTarget;
        if (target == address(0)) {
            return;
        }
        hookTarget = address(0);
        (bool ok, bytes memory ret) = target.call(hookData);
        hookCalled = true;
        hookOk = ok;
        hookResult = ret;
    }
}

/// @notice Refuses to credit an account that armed it for itself, as a
/// blacklist, a pause or a receiver's hook does: a transfer to it reverts
/// ("token: receiver refused"), or, armed to burn, spends all the gas it
/// is given. What the armed account sends, it sends.
contract RefusingToken is QuirkyBase {
    /// @notice 0 credited as usual, 1 a credit reverts, 2 a credit burns
    /// all the gas it is given.
    mapping(address => uint8) public refuses;

    /// @notice Arms (1 revert, 2 burn) or disarms (0) the caller's refusal.
    function refuse(uint8 mode) external {
        refuses[msg.sender] = mode;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _check(to);
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _check(to);
        _spend(from, amount);
        _move(from, to, amount);
        return true;
    }

    function _check(address to) private view {
        uint8 mode = refuses[to];
        if (mode == 2) {
            uint256 x;
            while (gasleft() > 0) {
                x = uint256(keccak256(abi.encode(x)));
            }
        }
        require(mode == 0, "token: receiver refused");
    }
}
