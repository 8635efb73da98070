"""Watched EVM wallets."""

from __future__ import annotations

from cryptoradar.config.base import Section


class EvmConfig(Section):
    pass
