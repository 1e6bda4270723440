// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.26;

// Probe is the devnet's test contract: it reads what the node puts in the
// block context, stores a value with an event, reverts with a reason, and
// burns energy on demand. Compiled by testdata/compile.mjs into Probe.bin
// and Probe.abi.json (solc 0.8.26, evmVersion london, optimizer 200 runs,
// no metadata).
contract Probe {
    uint256 public stored;
    address public immutable deployer;
    address public immutable self;

    event Stored(address indexed who, uint256 value);

    constructor() {
        deployer = msg.sender;
        self = address(this);
    }

    function timestamp() external view returns (uint256) {
        return block.timestamp;
    }

    function number() external view returns (uint256) {
        return block.number;
    }

    function chainId() external view returns (uint256) {
        return block.chainid;
    }

    function store(uint256 value) external {
        require(value != 0, "probe: zero value");
        stored = value;
        emit Stored(msg.sender, value);
    }

    function fail() external pure {
        revert("probe: failed on purpose");
    }

    // burn writes n storage slots, costing about 22,100 energy each.
    function burn(uint256 n) external {
        for (uint256 i = 1; i <= n; i++) {
            assembly {
                sstore(add(i, 1000), i)
            }
        }
    }
}
