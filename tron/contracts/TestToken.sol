// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TestToken: a mintable TRC-20 for the devnet and tests
/// @notice "Test BTT" (tBTT), 18 decimals like mainnet BTT. Only the deployer
/// (the owner) may mint. Otherwise a plain TRC-20 (ERC-20 shape): transfer,
/// approve and transferFrom return true and emit Transfer / Approval; an
/// allowance of type(uint256).max is never decreased.
/// @dev Revert strings: "token: insufficient balance", "token: insufficient
/// allowance", "token: not owner", "token: zero address" (a transfer or mint
/// to address zero). Not for production: there is no supply cap.
contract TestToken {
    /// @notice "Test BTT".
    string public constant name = "Test BTT";
    /// @notice "tBTT".
    string public constant symbol = "tBTT";
    /// @notice 18, as mainnet BTT.
    uint8 public constant decimals = 18;

    /// @notice The deployer, the only account allowed to mint.
    address public immutable owner;

    /// @notice Tokens in existence.
    uint256 public totalSupply;
    /// @notice Each account's balance.
    mapping(address => uint256) public balanceOf;
    /// @notice allowance[holder][spender]: what spender may still move.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice `value` tokens moved from `from` to `to` (from is zero for a
    /// mint).
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice `owner` allowed `spender` to move `value` of its tokens.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        owner = msg.sender;
    }

    /// @notice Creates `amount` tokens for `to`. Owner only.
    function mint(address to, uint256 amount) external {
        require(msg.sender == owner, "token: not owner");
        require(to != address(0), "token: zero address");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Moves `amount` of the caller's tokens to `to`.
    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    /// @notice Lets `spender` move up to `amount` of the caller's tokens.
    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice Moves `amount` of `from`'s tokens to `to`, spending the
    /// caller's allowance.
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "token: insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(to != address(0), "token: zero address");
        uint256 bal = balanceOf[from];
        require(bal >= amount, "token: insufficient balance");
        unchecked {
            balanceOf[from] = bal - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
