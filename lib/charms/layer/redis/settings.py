"""A typed, validated view of the charm's configuration.

Every option is checked before anything is touched: `parse()` either returns a
complete `Settings` or raises `InvalidOption` naming the option and what is
allowed, so a bad value never reaches redis.conf, systemd or a relation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOG_LEVELS = ("debug", "verbose", "notice", "warning")
INSTALL_SOURCES = ("apt", "snap")
# Written unquoted into redis.conf and relation data: printable ASCII without
# whitespace, quotes or backslashes, so no value can break the file's syntax.
PASSWORD_PATTERN = re.compile(r"^[!#-&(-\[\]-~]{1,512}$")
NAGIOS_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
SNAP_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SNAP_CHANNEL_PATTERN = re.compile(r"^[a-z0-9./_-]+$")
URL_PATTERN = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# snapd's refresh.timer: days, times and ranges such as "mon,10:00-12:00" or "fri5,23:00~24:00".
REFRESH_TIMER_PATTERN = re.compile(r"^(max|[a-z0-9,:.~-]+)$")
# Redis runs as the unprivileged redis user: it cannot listen below 1024.
LOWEST_PORT = 1024
MAX_DATABASES = 1_000_000


class InvalidOption(ValueError):
    """A config option has a value the charm cannot use."""

    def __init__(self, option: str, allowed: str) -> None:
        self.option = option
        self.allowed = allowed
        super().__init__(f"invalid {option}: {allowed}")


@dataclass(frozen=True)
class Settings:
    """What the operator asked for, validated; names follow redis.conf where one exists."""

    port: int
    password: str
    loglevel: str
    databases: int
    timeout: int
    tcp_keepalive: int
    cluster_enabled: bool
    install_source: str
    snap_name: str
    snap_channel: str
    snap_proxy: str
    snap_proxy_url: str
    snapd_refresh: str
    nagios_context: str
    nagios_servicegroups: str


def _integer(config: Mapping[str, Any], option: str, low: int, high: int) -> int:
    value = config.get(option)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidOption(option, f"must be a whole number from {low} to {high}")
    return value


def _choice(config: Mapping[str, Any], option: str, allowed: tuple[str, ...]) -> str:
    value = config.get(option)
    if value not in allowed:
        raise InvalidOption(option, f"must be one of {', '.join(allowed)}")
    return value


def _text(config: Mapping[str, Any], option: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
    value = config.get(option)
    value = "" if value is None else value
    if not isinstance(value, str) or any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidOption(option, "must be text without control characters")
    if value and pattern is not None and not pattern.match(value):
        raise InvalidOption(option, what)
    return value


def parse(config: Mapping[str, Any], deployed_cluster_enabled: bool | None = None) -> Settings:
    """Validate `config` (as config-get returns it) into Settings.

    `deployed_cluster_enabled` is the value cluster-enabled had when the unit
    first configured Redis (None before that): it cannot change afterwards.
    """
    cluster_enabled = config.get("cluster-enabled")
    if not isinstance(cluster_enabled, bool):
        raise InvalidOption("cluster-enabled", "must be true or false")
    if deployed_cluster_enabled is not None and cluster_enabled != deployed_cluster_enabled:
        allowed = f"can only be set at deploy time; set it back to {str(deployed_cluster_enabled).lower()}"
        raise InvalidOption("cluster-enabled", allowed)
    if cluster_enabled:
        raise InvalidOption("cluster-enabled", "Redis Cluster is not available in this charm revision; use false")
    return Settings(
        port=_integer(config, "port", LOWEST_PORT, 65535),
        password=_text(
            config,
            "password",
            PASSWORD_PATTERN,
            "must be 1 to 512 printable characters without spaces, quotes or backslashes",
        ),
        loglevel=_choice(config, "log-level", LOG_LEVELS),
        databases=_integer(config, "databases", 1, MAX_DATABASES),
        timeout=_integer(config, "timeout", 0, 2**31 - 1),
        tcp_keepalive=_integer(config, "tcp-keepalive", 0, 2**31 - 1),
        cluster_enabled=cluster_enabled,
        install_source=_choice(config, "install-source", INSTALL_SOURCES),
        snap_name=_text(config, "snap-name", SNAP_NAME_PATTERN, "must be a snap name (lowercase letters, digits, -)"),
        snap_channel=_text(config, "snap-channel", SNAP_CHANNEL_PATTERN, "must be a channel such as 7/stable"),
        snap_proxy=_text(config, "snap_proxy", URL_PATTERN, "must be an http:// or https:// address"),
        snap_proxy_url=_text(config, "snap_proxy_url", URL_PATTERN, "must be an http:// or https:// address"),
        snapd_refresh=_text(
            config, "snapd_refresh", REFRESH_TIMER_PATTERN, 'must be "max" or a snapd timer such as fri,23:00-01:00'
        ),
        nagios_context=_text(config, "nagios_context", NAGIOS_NAME_PATTERN, "must be letters, digits, '.', '_' or '-'"),
        nagios_servicegroups=_text(config, "nagios_servicegroups"),
    )
