"""Typed configuration: YAML + ${ENV} interpolation + CRYPTORADAR__* environment overrides."""

from cryptoradar.config.loader import DEFAULT_CONFIG_PATH, load_settings, redacted_dump
from cryptoradar.config.settings import Settings

__all__ = ["DEFAULT_CONFIG_PATH", "Settings", "load_settings", "redacted_dump"]
