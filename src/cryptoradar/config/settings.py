"""The root settings model: one typed section per component."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cryptoradar.config.alerts import AlertsConfig
from cryptoradar.config.api import ApiConfig
from cryptoradar.config.base import Section
from cryptoradar.config.binance import BinanceConfig, UniverseConfig
from cryptoradar.config.detectors import DetectorsConfig
from cryptoradar.config.evm import EvmConfig
from cryptoradar.config.lifecycle import LifecycleConfig
from cryptoradar.config.logs import LogFileConfig
from cryptoradar.config.sim import SimConfig
from cryptoradar.config.storage import StorageConfig


class LogConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console", "auto"] = "auto"
    file: LogFileConfig = LogFileConfig()


class Settings(BaseSettings):
    """Everything cryptoradar can be told. Unknown keys anywhere are errors."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    log: LogConfig = LogConfig()
    binance: BinanceConfig = BinanceConfig()
    universe: UniverseConfig = UniverseConfig()
    sim: SimConfig = SimConfig()
    detectors: DetectorsConfig = DetectorsConfig()
    alerts: AlertsConfig = AlertsConfig()
    storage: StorageConfig = StorageConfig()
    api: ApiConfig = ApiConfig()
    evm: EvmConfig = EvmConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the init kwargs: the loader overlays `CRYPTORADAR__*` on the YAML itself, because this
        # source cannot set one field of a nested section alone or name the variable in an error.
        return (init_settings,)
