"""A real local EVM chain for tests and the benchmark: ganache + solcjs installed by npm.

`scripts/setup-evm-chain.sh` installs both into a project-local tools folder (default `<repo>/.evm`).
Contracts in `contracts/` are compiled once with solcjs and cached under the tools folder, keyed by a
hash of the sources. Transactions are sent with ganache's unlocked accounts (`eth_sendTransaction`),
so nothing is signed here. Not used by the production monitor.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_TOOLS_DIR = REPO_ROOT / ".evm"
CONTRACTS_DIR = REPO_ROOT / "contracts"
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup-evm-chain.sh"

_COMPILE_JS = """
const solc = require(process.argv[1]);
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => process.stdout.write(solc.compile(input)));
"""


class DevChainError(RuntimeError):
    """The local chain or the compiler could not be set up or used."""


class Artifact(msgspec.Struct, frozen=True):
    bytecode: str
    selectors: dict[str, str]
    """Function signature -> 4-byte selector hex (no 0x), as solc reports it."""


def ensure_tools(tools_dir: Path = DEFAULT_TOOLS_DIR) -> Path:
    """Install ganache and solcjs via the setup script when missing; return the tools folder."""
    if (
        not (tools_dir / "node_modules" / "ganache" / "package.json").is_file()
        or not (tools_dir / "node_modules" / "solc" / "package.json").is_file()
    ):
        result = subprocess.run(
            ["bash", str(SETUP_SCRIPT), str(tools_dir)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise DevChainError(f"setup-evm-chain.sh failed: {result.stderr[-2000:]}")
    return tools_dir


def compile_contracts(tools_dir: Path = DEFAULT_TOOLS_DIR) -> dict[str, Artifact]:
    """Compile every `contracts/*.sol` (cached by source hash); contract name -> artifact."""
    sources = {p.name: p.read_text() for p in sorted(CONTRACTS_DIR.glob("*.sol"))}
    digest = hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()[:16]
    cache = tools_dir / f"artifacts-{digest}.json"
    if cache.is_file():
        return msgspec.json.decode(cache.read_bytes(), type=dict[str, Artifact])
    request = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": {
            "evmVersion": "shanghai",
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.methodIdentifiers"]}},
        },
    }
    solc_js = tools_dir / "node_modules" / "solc" / "index.js"
    result = subprocess.run(
        ["node", "-e", _COMPILE_JS, str(solc_js)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevChainError(f"solcjs failed: {result.stderr[-2000:]}")
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise DevChainError("compile errors:\n" + "\n".join(errors))
    artifacts = {
        contract: Artifact(
            bytecode="0x" + body["evm"]["bytecode"]["object"],
            selectors=dict(body["evm"]["methodIdentifiers"]),
        )
        for per_file in output["contracts"].values()
        for contract, body in per_file.items()
    }
    cache.write_bytes(msgspec.json.encode(artifacts))
    return artifacts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class GanacheNode:
    """One ganache process on 127.0.0.1:`port`, HTTP and WebSocket JSON-RPC on the same port.

    `block_time_s == 0` is instamine (one block per transaction, mined at once). A `db_path` makes the
    chain survive `kill()` + `start()`, which the restart scenarios rely on.
    """

    port: int
    db_path: Path
    tools_dir: Path = DEFAULT_TOOLS_DIR
    block_time_s: float = 1.0
    chain_id: int = 137
    accounts: int = 6
    process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 30.0) -> None:
        cli = self.tools_dir / "node_modules" / "ganache" / "dist" / "node" / "cli.js"
        args = [
            "node",
            str(cli),
            "--server.host=127.0.0.1",
            f"--server.port={self.port}",
            f"--chain.chainId={self.chain_id}",
            f"--miner.blockTime={self.block_time_s}",
            "--wallet.deterministic",
            f"--wallet.totalAccounts={self.accounts}",
            f"--database.dbPath={self.db_path}",
            "--logging.quiet",
        ]
        self.db_path.mkdir(parents=True, exist_ok=True)
        # Popen returns at once; readiness is awaited below without blocking the loop.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        deadline = asyncio.get_running_loop().time() + timeout_s
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise DevChainError(f"ganache exited with {self.process.returncode}")
                try:
                    await rpc_call(session, self.http_url, "eth_blockNumber", [])
                    return
                except (aiohttp.ClientError, OSError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise DevChainError("ganache did not come up") from None
                    await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: the socket closes at once, as when a node crashes."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the socket stays open but nothing arrives (a hung server)."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


async def rpc_call(session: aiohttp.ClientSession, url: str, method: str, params: list[object]) -> object:
    """One HTTP JSON-RPC call; raises DevChainError on a JSON-RPC error."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=10)) as resp:
        body = await resp.json(content_type=None)
    if "error" in body:
        raise DevChainError(f"{method}: {body['error']}")
    return body["result"]


def encode_call(selector: str, *args: int | str | list[int] | list[str]) -> str:
    """ABI-encode a call of static words (int, address) and arrays of them; `bytes` args are empty.

    Enough for the test contracts: an `str` arg is an address or bytes32 hex; a `list` is a uint256[] or
    address[]. An empty `bytes` parameter is written as [] (same encoding: offset + zero length).
    """
    head: list[str] = []
    tail: list[str] = []
    tail_offset = 32 * len(args)
    for arg in args:
        if isinstance(arg, list):
            head.append(_word(tail_offset))
            tail.append(_word(len(arg)))
            tail.extend(_static(v) for v in arg)
            tail_offset += 32 * (1 + len(arg))
        else:
            head.append(_static(arg))
    return "0x" + selector + "".join(head) + "".join(tail)


def _word(value: int) -> str:
    return format(value, "064x")


def _static(value: int | str) -> str:
    return value.removeprefix("0x").rjust(64, "0") if isinstance(value, str) else _word(value)


@dataclass
class ChainDriver:
    """Deploys the test contracts and sends transactions from ganache's unlocked accounts.

    Wait for an account's transaction to be mined before sending its next one: ganache 7.9 in
    block-time mode can hand out a nonce that is in a block being mined, and then drops one of the two
    transactions silently (hash returned, never mined; ~3% of rapid sends in a local experiment).
    """

    session: aiohttp.ClientSession
    url: str
    artifacts: dict[str, Artifact]

    async def accounts(self) -> list[str]:
        result = await rpc_call(self.session, self.url, "eth_accounts", [])
        assert isinstance(result, list)
        return [str(a).lower() for a in result]

    async def deploy(self, contract: str, sender: str) -> str:
        tx_hash = await self.send(sender, None, self.artifacts[contract].bytecode)
        receipt = await self.wait_receipt(tx_hash)
        return str(receipt["contractAddress"]).lower()

    async def call(
        self,
        contract: str,
        address: str,
        sender: str,
        function: str,
        *args: int | str | list[int] | list[str],
    ) -> str:
        """Send a transaction calling `function` (full signature, e.g. "transfer(address,uint256)")."""
        data = encode_call(self.artifacts[contract].selectors[function], *args)
        return await self.send(sender, address, data)

    async def send(self, sender: str, to: str | None, data: str, value_wei: int = 0) -> str:
        tx: dict[str, str] = {"from": sender, "data": data, "gas": hex(3_000_000), "value": hex(value_wei)}
        if to is not None:
            tx["to"] = to
        return str(await rpc_call(self.session, self.url, "eth_sendTransaction", [tx]))

    async def wait_receipt(self, tx_hash: str, timeout_s: float = 20.0) -> dict[str, object]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            receipt = await rpc_call(self.session, self.url, "eth_getTransactionReceipt", [tx_hash])
            if isinstance(receipt, dict):
                if receipt.get("status") != "0x1":
                    raise DevChainError(f"transaction {tx_hash} reverted")
                return receipt
            if asyncio.get_running_loop().time() > deadline:
                tx = await rpc_call(self.session, self.url, "eth_getTransactionByHash", [tx_hash])
                raise DevChainError(f"no receipt for {tx_hash} within {timeout_s}s; node has it as {tx}")
            await asyncio.sleep(0.05)
