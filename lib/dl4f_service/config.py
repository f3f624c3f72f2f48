"""The service's settings: ``service.toml`` at the course root (optional), read with ``tomllib``.

```
[service]   url, max_upload_mb, submissions_per_hour, open_submissions_per_hour, lease_seconds, max_attempts,
            db_timeout_seconds
[grading]   epochs, time_limit, cell_timeout, memory_gb          (the instructor's grading settings)
[tp.NAME]   deadline (ISO 8601 with offset), counts ("best"|"last"), late_penalty_per_day, cutoff_days
```
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

TPS = ("tp-intro", "tp-rnn", "tp-callbacks", "tp-optimization", "tp-transformer")  # offered when no [tp.*] table


class ConfigError(ValueError):
    """A setting of service.toml is invalid: the message says which and what to write."""


@dataclass
class ServiceSettings:
    url: str = "http://127.0.0.1:8000"
    max_upload_mb: float = 20
    submissions_per_hour: int = 5
    open_submissions_per_hour: int = 2
    lease_seconds: float = 60
    max_attempts: int = 3
    db_timeout_seconds: float = 5  # how long a request waits for a locked database before answering 503


@dataclass
class GradingSettings:
    epochs: int | None = None  # below the TP's recipe: the quick thresholds
    time_limit: float = 1800
    cell_timeout: int = 600
    memory_gb: float = 8


@dataclass
class TPPolicy:
    deadline: dt.datetime | None = None
    counts: str = "best"  # which attempt counts: "best" or "last"
    late_penalty_per_day: float = 0.0  # fraction of the maximum, per started day late
    cutoff_days: float = 0.0  # submissions are refused this long after the deadline


@dataclass
class Config:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    grading: GradingSettings = field(default_factory=GradingSettings)
    tps: dict[str, TPPolicy] = field(default_factory=lambda: {tp: TPPolicy() for tp in TPS})

    @property
    def secure_cookies(self) -> bool:
        return self.service.url.startswith("https://")


def _fill(cls, table: dict, where: str):
    known = cls.__dataclass_fields__
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"service.toml [{where}]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**table)


def _policy(name: str, table: dict) -> TPPolicy:
    policy = _fill(TPPolicy, table, f"tp.{name}")
    if isinstance(policy.deadline, str):
        try:
            policy.deadline = dt.datetime.fromisoformat(policy.deadline)
        except ValueError:
            raise ConfigError(f"service.toml [tp.{name}]: deadline {policy.deadline!r} is not ISO 8601 "
                              "(write e.g. 2026-03-01T23:59:00+01:00)") from None
    if policy.deadline is not None and policy.deadline.tzinfo is None:
        raise ConfigError(f"service.toml [tp.{name}]: the deadline needs a UTC offset (e.g. +01:00)")
    if policy.counts not in ("best", "last"):
        raise ConfigError(f"service.toml [tp.{name}]: counts must be \"best\" or \"last\", not {policy.counts!r}")
    if not 0 <= policy.late_penalty_per_day <= 1 or policy.cutoff_days < 0:
        raise ConfigError(f"service.toml [tp.{name}]: late_penalty_per_day must be in [0, 1] and cutoff_days >= 0")
    return policy


def load(root: Path, path: Path | None = None) -> Config:
    """The configuration of the course at ``root`` (``path``, else ``<root>/service.toml``, else the defaults)."""
    path = Path(path) if path else Path(root) / "service.toml"
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"service", "grading", "tp"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; known: service, grading, tp.<name>")
    config = Config(_fill(ServiceSettings, data.get("service", {}), "service"),
                    _fill(GradingSettings, data.get("grading", {}), "grading"))
    if data.get("tp"):
        config.tps = {name: _policy(name, table) for name, table in data["tp"].items()}
    return config
