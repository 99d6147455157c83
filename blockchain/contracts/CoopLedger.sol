// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title CoopLedger: a community energy co-op's settled trading periods, one Merkle root each.
/// @notice The co-op (operator) commits every settled half-hour trading period once: the root
/// of a Merkle tree over its trades, with the period's totals in the event. Corrections are
/// amendments appended beside the original, never over it. Any member can check a trade of
/// theirs against the chain with `verifyTrade`.
/// @dev Period ids are yyyymmdd * 100 + trading period (NZ trading day). Leaves are
/// keccak256(keccak256(abi.encode(uint64 periodId, uint32 sequence, bytes32 buyer, bytes32 seller,
/// uint64 energyWh, uint64 priceCE4, uint128 valueMicroNzd))); the tree pads each level to a power
/// of two with zero hashes and hashes (left, right) by position, so a proof is the siblings on
/// the path and the leaf's index says left or right at each level. One storage slot per commit
/// keeps a commit under 60,000 gas whatever the number of trades.
contract CoopLedger {
    address public immutable operator;

    mapping(uint64 => bytes32) private roots;
    mapping(uint64 => bytes32[]) private amendments;
    mapping(address => bytes32) public memberHash;

    error NotOperator();
    error EmptyRoot();
    error AlreadyCommitted(uint64 periodId, bytes32 root);
    error NotCommitted(uint64 periodId);
    error EmptyMemberHash();

    event MemberRegistered(address indexed member, bytes32 memberHash);
    event PeriodCommitted(
        uint64 indexed periodId, bytes32 root, uint32 tradeCount, uint64 totalWh, uint128 totalValueMicroNzd
    );
    event PeriodAmended(
        uint64 indexed periodId,
        uint256 amendmentIndex,
        bytes32 root,
        uint32 tradeCount,
        uint64 totalWh,
        uint128 totalValueMicroNzd
    );

    constructor() {
        operator = msg.sender;
    }

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator();
        _;
    }

    function registerMember(address member, bytes32 hash) external onlyOperator {
        if (hash == bytes32(0)) revert EmptyMemberHash();
        memberHash[member] = hash;
        emit MemberRegistered(member, hash);
    }

    function isMember(address member) external view returns (bool) {
        return memberHash[member] != bytes32(0);
    }

    function commitPeriod(
        uint64 periodId,
        bytes32 root,
        uint32 tradeCount,
        uint64 totalWh,
        uint128 totalValueMicroNzd
    ) external onlyOperator {
        if (root == bytes32(0)) revert EmptyRoot();
        bytes32 existing = roots[periodId];
        if (existing != bytes32(0)) revert AlreadyCommitted(periodId, existing);
        roots[periodId] = root;
        emit PeriodCommitted(periodId, root, tradeCount, totalWh, totalValueMicroNzd);
    }

    function amendPeriod(
        uint64 periodId,
        bytes32 root,
        uint32 tradeCount,
        uint64 totalWh,
        uint128 totalValueMicroNzd
    ) external onlyOperator {
        if (root == bytes32(0)) revert EmptyRoot();
        if (roots[periodId] == bytes32(0)) revert NotCommitted(periodId);
        amendments[periodId].push(root);
        emit PeriodAmended(
            periodId, amendments[periodId].length - 1, root, tradeCount, totalWh, totalValueMicroNzd
        );
    }

    /// @return The root first committed for the period (zero if none).
    function committedRoot(uint64 periodId) external view returns (bytes32) {
        return roots[periodId];
    }

    function amendmentCount(uint64 periodId) external view returns (uint256) {
        return amendments[periodId].length;
    }

    /// @return The root in force: the latest amendment, else the original commit.
    function currentRoot(uint64 periodId) public view returns (bytes32) {
        bytes32[] storage list = amendments[periodId];
        return list.length == 0 ? roots[periodId] : list[list.length - 1];
    }

    /// @notice Does this trade (its ABI-encoded leaf) belong to the period's current root?
    function verifyTrade(uint64 periodId, bytes calldata encodedLeaf, uint256 index, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        bytes32 root = currentRoot(periodId);
        if (root == bytes32(0)) return false;
        bytes32 node = keccak256(bytes.concat(keccak256(encodedLeaf)));
        for (uint256 i = 0; i < proof.length; i++) {
            node = (index & 1) == 0 ? keccak256(abi.encodePacked(node, proof[i])) : keccak256(abi.encodePacked(proof[i], node));
            index >>= 1;
        }
        return index == 0 && node == root;
    }
}
