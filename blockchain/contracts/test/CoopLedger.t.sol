// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Foundry tests of CoopLedger: only the operator writes, a committed root never changes,
// and a proof verifies for every leaf of random trees of 1-1,000 trades but for no changed
// field, index or sibling. Trees are built here exactly as blockchain/merkle.py builds them
// (a test pins that against roots merkle.py computed). forge-std is a git library this project
// cannot fetch, so the few cheatcodes used are declared below.

import {CoopLedger} from "../CoopLedger.sol";

interface Vm {
    function prank(address caller) external;
    function expectRevert(bytes calldata revertData) external;
    function assume(bool condition) external pure;
    function readFile(string calldata path) external view returns (string memory);
    function parseJsonBytes(string calldata json, string calldata key) external pure returns (bytes memory);
}

struct TradeLeaf {
    uint64 periodId;
    uint32 sequence;
    bytes32 buyer;
    bytes32 seller;
    uint64 energyWh;
    uint64 priceCE4;
    uint128 valueMicroNzd;
}

/// @notice blockchain/merkle.py in Solidity: leaf = keccak256(keccak256(abi.encode(trade))), each
/// level padded to a power of two with zero hashes, parent = keccak256(left || right).
library TradeTree {
    function encode(TradeLeaf memory trade) internal pure returns (bytes memory) {
        return abi.encode(
            trade.periodId,
            trade.sequence,
            trade.buyer,
            trade.seller,
            trade.energyWh,
            trade.priceCE4,
            trade.valueMicroNzd
        );
    }

    /// @notice A period's `count` trades, every field drawn from `seed` over its whole range so
    /// the encoding is tested at its extremes too.
    function randomTrades(uint64 periodId, uint256 seed, uint256 count) internal pure returns (bytes[] memory leaves) {
        leaves = new bytes[](count);
        for (uint256 n = 0; n < count; n++) {
            uint256 draw = uint256(keccak256(abi.encode(seed, n)));
            leaves[n] = encode(
                TradeLeaf({
                    periodId: periodId,
                    sequence: uint32(n + 1),
                    buyer: keccak256(abi.encode(draw, "buyer")),
                    seller: keccak256(abi.encode(draw, "seller")),
                    energyWh: uint64(draw),
                    priceCE4: uint64(draw >> 64),
                    valueMicroNzd: uint128(draw >> 128)
                })
            );
        }
    }

    /// @return levels From the padded leaf hashes (levels[0]) up to the root (the last, alone).
    function build(bytes[] memory leaves) internal pure returns (bytes32[][] memory levels) {
        uint256 width = 1;
        uint256 depth = 0;
        while (width < leaves.length) {
            width *= 2;
            depth++;
        }
        levels = new bytes32[][](depth + 1);
        levels[0] = new bytes32[](width); // zero-filled: the padding
        for (uint256 i = 0; i < leaves.length; i++) {
            levels[0][i] = keccak256(bytes.concat(keccak256(leaves[i])));
        }
        for (uint256 d = 1; d <= depth; d++) {
            bytes32[] memory below = levels[d - 1];
            bytes32[] memory level = new bytes32[](below.length / 2);
            for (uint256 i = 0; i < level.length; i++) {
                level[i] = keccak256(abi.encodePacked(below[2 * i], below[2 * i + 1]));
            }
            levels[d] = level;
        }
    }

    function root(bytes32[][] memory levels) internal pure returns (bytes32) {
        return levels[levels.length - 1][0];
    }

    function proof(bytes32[][] memory levels, uint256 index) internal pure returns (bytes32[] memory siblings) {
        siblings = new bytes32[](levels.length - 1);
        for (uint256 d = 0; d < siblings.length; d++) {
            siblings[d] = levels[d][index ^ 1];
            index >>= 1;
        }
    }
}

abstract contract LedgerTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    CoopLedger internal ledger;

    error ProofRejected(uint256 tradeCount, uint256 index);
    error TamperedProofAccepted(uint256 tradeCount, uint256 index);

    /// @dev The test contract deploys the ledger, so it is the operator.
    function setUp() public {
        ledger = new CoopLedger();
    }

    function commit(uint64 periodId, bytes32 root) internal {
        ledger.commitPeriod(periodId, root, 1, 1000, 185_000);
    }

    function amend(uint64 periodId, bytes32 root) internal {
        ledger.amendPeriod(periodId, root, 1, 1000, 185_000);
    }

    function between(uint256 value, uint256 low, uint256 high) internal pure returns (uint256) {
        return low + value % (high - low + 1);
    }
}

contract OnlyTheOperatorWrites is LedgerTest {
    function testTheDeployerIsTheOperator() public view {
        require(ledger.operator() == address(this), "the deployer is not the operator");
    }

    function testOnlyTheOperatorCommits(address caller, uint64 periodId, bytes32 root) public {
        vm.assume(caller != address(this) && root != bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.NotOperator.selector));
        vm.prank(caller);
        commit(periodId, root);
        require(ledger.committedRoot(periodId) == bytes32(0), "a non-operator's commit was kept");

        commit(periodId, root);
        require(ledger.committedRoot(periodId) == root, "the operator's commit was not kept");
    }

    function testOnlyTheOperatorAmends(address caller, uint64 periodId, bytes32 root, bytes32 amended) public {
        vm.assume(caller != address(this) && root != bytes32(0) && amended != bytes32(0));
        commit(periodId, root);
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.NotOperator.selector));
        vm.prank(caller);
        amend(periodId, amended);
        require(ledger.amendmentCount(periodId) == 0, "a non-operator's amendment was kept");
        require(ledger.currentRoot(periodId) == root, "a non-operator moved the current root");

        amend(periodId, amended);
        require(ledger.currentRoot(periodId) == amended, "the operator's amendment is not in force");
    }

    function testOnlyTheOperatorRegistersMembers(address caller, address member, bytes32 hash) public {
        vm.assume(caller != address(this) && hash != bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.NotOperator.selector));
        vm.prank(caller);
        ledger.registerMember(member, hash);
        require(!ledger.isMember(member), "a non-operator registered a member");

        ledger.registerMember(member, hash);
        require(ledger.memberHash(member) == hash, "the operator's registration was not kept");
    }
}

contract ACommittedRootNeverChanges is LedgerTest {
    function testACommittedRootNeverChanges(uint64 periodId, bytes32 root, bytes32 other, uint8 amendments) public {
        vm.assume(root != bytes32(0) && other != bytes32(0));
        commit(periodId, root);
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.AlreadyCommitted.selector, periodId, root));
        commit(periodId, other);

        uint256 count = between(amendments, 1, 16);
        for (uint256 k = 0; k < count; k++) {
            bytes32 amended = keccak256(abi.encode(other, k));
            amend(periodId, amended);
            require(ledger.committedRoot(periodId) == root, "an amendment overwrote the committed root");
            require(ledger.currentRoot(periodId) == amended, "the latest amendment is not in force");
            require(ledger.amendmentCount(periodId) == k + 1, "an amendment was not counted");
        }
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.AlreadyCommitted.selector, periodId, root));
        commit(periodId, other);
    }

    function testAZeroRootIsRefused(uint64 periodId, bytes32 root) public {
        vm.assume(root != bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.EmptyRoot.selector));
        commit(periodId, bytes32(0));
        commit(periodId, root);
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.EmptyRoot.selector));
        amend(periodId, bytes32(0));
        require(ledger.currentRoot(periodId) == root, "a zero amendment moved the current root");
    }

    function testAnUncommittedPeriodCannotBeAmended(uint64 periodId, bytes32 root) public {
        vm.assume(root != bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(CoopLedger.NotCommitted.selector, periodId));
        amend(periodId, root);
        require(ledger.currentRoot(periodId) == bytes32(0), "an amendment without a commit was kept");
    }

    function testProofsFollowTheAmendment(uint64 periodId, uint256 seed, uint256 tradeCount) public {
        uint256 count = between(tradeCount, 1, 50);
        bytes[] memory original = TradeTree.randomTrades(periodId, seed, count);
        bytes[] memory corrected = TradeTree.randomTrades(periodId, ~seed, count);
        bytes32[][] memory before = TradeTree.build(original);
        bytes32[][] memory amended = TradeTree.build(corrected);
        commit(periodId, TradeTree.root(before));
        amend(periodId, TradeTree.root(amended));

        require(ledger.committedRoot(periodId) == TradeTree.root(before), "the committed root changed");
        uint256 index = seed % original.length;
        require(
            ledger.verifyTrade(periodId, corrected[index], index, TradeTree.proof(amended, index)),
            "a trade of the amendment does not verify"
        );
        require(
            !ledger.verifyTrade(periodId, original[index], index, TradeTree.proof(before, index)),
            "a trade that was amended away still verifies"
        );
    }
}

contract ProofsVerifyExactly is LedgerTest {
    uint256 private constant MAX_TRADES = 1000;

    struct Period {
        uint64 periodId;
        bytes[] leaves;
        bytes32[][] levels;
    }

    /// @notice A random period of `count` trades, its root committed by the operator.
    function committedPeriod(uint256 seed, uint256 count) private returns (Period memory period) {
        period.periodId = uint64(uint256(keccak256(abi.encode(seed))));
        period.leaves = TradeTree.randomTrades(period.periodId, seed, count);
        period.levels = TradeTree.build(period.leaves);
        commit(period.periodId, TradeTree.root(period.levels));
    }

    function verifies(Period memory period, bytes memory leaf, uint256 index, bytes32[] memory proof)
        private
        view
        returns (bool)
    {
        return ledger.verifyTrade(period.periodId, leaf, index, proof);
    }

    /// @dev The untouched proof verifies, so a rejection after tampering is the tampering's doing.
    function genuine(Period memory period, uint256 pick) private view returns (uint256 index, bytes32[] memory proof) {
        index = pick % period.leaves.length;
        proof = TradeTree.proof(period.levels, index);
        if (!verifies(period, period.leaves[index], index, proof)) {
            revert ProofRejected(period.leaves.length, index);
        }
    }

    function rejected(Period memory period, bytes memory leaf, uint256 index, bytes32[] memory proof) private view {
        if (verifies(period, leaf, index, proof)) revert TamperedProofAccepted(period.leaves.length, index);
    }

    function testTheTreeIsMerklePys() public pure {
        // Roots from blockchain/merkle.py of trades (2026070801, n, keccak(b"member-1"),
        // keccak(b"member-2"), 1000 + n, 185_000, 200_000 + n) for n = 1..count.
        uint256[4] memory counts = [uint256(1), 2, 5, 1000];
        bytes32[4] memory roots = [
            bytes32(0xa3bbe1ce439c3f493aa6c6a6aa1d5f2effd853fa0a261fd1d7b32bdfe10672d5),
            0xb2a98c8c2dcb950df977f4d7e564324a9fefbdfe5503cdd24796a821c2653448,
            0xec73db0bf6a08f6880f72d20efde539e88fbdca9778bde8d1ccf6d751afbbb04,
            0xf9e201330fd5e98be0e08dc5815e5e9a0980db5110d77b0e915a0a0fc0f80139
        ];
        for (uint256 c = 0; c < counts.length; c++) {
            bytes[] memory leaves = new bytes[](counts[c]);
            for (uint256 n = 1; n <= counts[c]; n++) {
                leaves[n - 1] = TradeTree.encode(
                    TradeLeaf(
                        2026070801,
                        uint32(n),
                        keccak256("member-1"),
                        keccak256("member-2"),
                        uint64(1000 + n),
                        185_000,
                        uint128(200_000 + n)
                    )
                );
            }
            require(TradeTree.root(TradeTree.build(leaves)) == roots[c], "the tree differs from merkle.py's");
        }
    }

    function testTheTestedBytecodeIsTheCommittedArtifact() public view {
        string memory artifact = vm.readFile("build/CoopLedger.json");
        require(
            keccak256(vm.parseJsonBytes(artifact, ".bytecode")) == keccak256(type(CoopLedger).creationCode),
            "forge compiled other bytecode than build/CoopLedger.json: compare foundry.toml's settings"
        );
    }

    function testEveryLeafVerifies(uint256 seed, uint256 tradeCount) public {
        everyLeafVerifies(committedPeriod(seed, between(tradeCount, 1, MAX_TRADES)));
    }

    /// @dev The fuzzer's counts need not reach the ends of the range, so these are always run.
    /// forge-config: default.fuzz.runs = 8
    function testEveryLeafVerifiesAtTheEndsOfTheRange(uint256 seed) public {
        everyLeafVerifies(committedPeriod(seed, 1));
        everyLeafVerifies(committedPeriod(~seed, 2));
        everyLeafVerifies(committedPeriod(seed ^ 1, MAX_TRADES));
    }

    function everyLeafVerifies(Period memory period) private view {
        for (uint256 index = 0; index < period.leaves.length; index++) {
            if (!verifies(period, period.leaves[index], index, TradeTree.proof(period.levels, index))) {
                revert ProofRejected(period.leaves.length, index);
            }
        }
    }

    function testAChangedByteFails(uint256 seed, uint256 tradeCount, uint256 pick, uint8 at, uint8 flip) public {
        vm.assume(flip != 0);
        Period memory period = committedPeriod(seed, between(tradeCount, 1, MAX_TRADES));
        (uint256 index, bytes32[] memory proof) = genuine(period, pick);
        bytes memory leaf = bytes.concat(period.leaves[index]);
        leaf[at % leaf.length] ^= bytes1(flip);
        rejected(period, leaf, index, proof);
    }

    function testAChangedFieldFails(uint256 seed, uint256 tradeCount, uint256 pick, uint8 field, uint256 value) public {
        Period memory period = committedPeriod(seed, between(tradeCount, 1, MAX_TRADES));
        (uint256 index, bytes32[] memory proof) = genuine(period, pick);
        TradeLeaf memory trade = decode(period.leaves[index]);
        uint256 which = field % 7;
        if (which == 0) trade.periodId = uint64(value);
        else if (which == 1) trade.sequence = uint32(value);
        else if (which == 2) trade.buyer = bytes32(value);
        else if (which == 3) trade.seller = bytes32(value);
        else if (which == 4) trade.energyWh = uint64(value);
        else if (which == 5) trade.priceCE4 = uint64(value);
        else trade.valueMicroNzd = uint128(value);
        bytes memory leaf = TradeTree.encode(trade);
        vm.assume(keccak256(leaf) != keccak256(period.leaves[index]));
        rejected(period, leaf, index, proof);
    }

    function testAChangedIndexFails(uint256 seed, uint256 tradeCount, uint256 pick, uint256 shift, uint256 anyIndex)
        public
    {
        Period memory period = committedPeriod(seed, between(tradeCount, 2, MAX_TRADES));
        (uint256 index, bytes32[] memory proof) = genuine(period, pick);
        bytes memory leaf = period.leaves[index];
        // Another position in the padded tree (padding included), then any other number at all.
        uint256 width = period.levels[0].length;
        rejected(period, leaf, (index + 1 + shift % (width - 1)) % width, proof);
        vm.assume(anyIndex != index);
        rejected(period, leaf, anyIndex, proof);
    }

    function testAChangedSiblingFails(uint256 seed, uint256 tradeCount, uint256 pick, uint256 level, bytes32 flip)
        public
    {
        vm.assume(flip != bytes32(0));
        Period memory period = committedPeriod(seed, between(tradeCount, 2, MAX_TRADES));
        (uint256 index, bytes32[] memory proof) = genuine(period, pick);
        proof[level % proof.length] ^= flip;
        rejected(period, period.leaves[index], index, proof);
    }

    function testAProofOfTheWrongLengthFails(uint256 seed, uint256 tradeCount, uint256 pick, bytes32 extra) public {
        Period memory period = committedPeriod(seed, between(tradeCount, 1, MAX_TRADES));
        (uint256 index, bytes32[] memory proof) = genuine(period, pick);
        bytes32[] memory longer = new bytes32[](proof.length + 1);
        for (uint256 d = 0; d < proof.length; d++) {
            longer[d] = proof[d];
        }
        longer[proof.length] = extra;
        rejected(period, period.leaves[index], index, longer);
        if (proof.length > 0) {
            bytes32[] memory shorter = new bytes32[](proof.length - 1);
            for (uint256 d = 0; d < shorter.length; d++) {
                shorter[d] = proof[d];
            }
            rejected(period, period.leaves[index], index, shorter);
        }
    }

    function decode(bytes memory leaf) private pure returns (TradeLeaf memory trade) {
        (
            trade.periodId,
            trade.sequence,
            trade.buyer,
            trade.seller,
            trade.energyWh,
            trade.priceCE4,
            trade.valueMicroNzd
        ) = abi.decode(leaf, (uint64, uint32, bytes32, bytes32, uint64, uint64, uint128));
    }
}
