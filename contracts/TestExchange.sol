// SPDX-License-Identifier: MIT
// Emits fills with the event signatures of Polymarket's CTF Exchange V2 so the decoder and the topic
// filters are checked against logs a real compiler and node produced. No matching logic.
pragma solidity ^0.8.24;

contract TestExchange {
    event OrderFilled(
        bytes32 indexed orderHash,
        address indexed maker,
        address indexed taker,
        uint8 side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled,
        uint256 fee,
        bytes32 builder,
        bytes32 metadata
    );
    event OrdersMatched(
        bytes32 indexed takerOrderHash,
        address indexed takerOrderMaker,
        uint8 side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled
    );

    function fill(
        bytes32 orderHash, address maker, address taker, uint8 side, uint256 tokenId,
        uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee
    ) external {
        emit OrderFilled(
            orderHash, maker, taker, side, tokenId, makerAmountFilled, takerAmountFilled, fee, bytes32(0), bytes32(0)
        );
    }

    function matched(
        bytes32 takerOrderHash, address takerOrderMaker, uint8 side, uint256 tokenId,
        uint256 makerAmountFilled, uint256 takerAmountFilled
    ) external {
        emit OrdersMatched(takerOrderHash, takerOrderMaker, side, tokenId, makerAmountFilled, takerAmountFilled);
    }
}
