#!/usr/bin/env bash
# Install the local EVM chain (ganache) and the Solidity compiler (solcjs) into a project-local folder.
#
# Idempotent: does nothing when both are already there at the pinned versions. Uses only the npm
# registry through npm itself; nothing is downloaded at run time (solcjs is wasm, ganache is JS).
# Usage: scripts/setup-evm-chain.sh [PREFIX]   (default PREFIX: <repo>/.evm; env EVM_PREFIX also works)
set -euo pipefail

GANACHE_VERSION="7.9.2"
SOLC_VERSION="0.8.24"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${1:-${EVM_PREFIX:-$repo_root/.evm}}"

installed_version() {
    # Prints the version of an installed npm package, or nothing.
    local pkg_json="$prefix/node_modules/$1/package.json"
    [[ -f "$pkg_json" ]] && node -p "require('$pkg_json').version" 2>/dev/null || true
}

if [[ "$(installed_version ganache)" == "$GANACHE_VERSION" && "$(installed_version solc)" == "$SOLC_VERSION" ]]; then
    echo "evm chain tools already installed in $prefix"
    exit 0
fi

command -v npm >/dev/null || { echo "npm is required (install nodejs + npm)" >&2; exit 1; }
mkdir -p "$prefix"
# A private package.json keeps npm from walking up into the repository.
[[ -f "$prefix/package.json" ]] || echo '{"name":"cryptoradar-evm-tools","private":true}' >"$prefix/package.json"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "ganache@$GANACHE_VERSION" "solc@$SOLC_VERSION"
echo "installed ganache $GANACHE_VERSION and solc $SOLC_VERSION in $prefix"
