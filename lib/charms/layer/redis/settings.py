"""A typed, validated view of the charm's configuration.

Every option is checked before anything is touched: `parse()` either returns a
complete `Settings` or raises `InvalidOption` naming the option and what is
allowed, so a bad value never reaches redis.conf, systemd or a relation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charms.layer.redis.users import DEFAULT_CLIENT_PERMISSIONS

LOG_LEVELS = ("debug", "verbose", "notice", "warning")
INSTALL_SOURCES = ("apt", "snap")
# Written unquoted into redis.conf and relation data: printable ASCII without
# whitespace, quotes or backslashes, so no value can break the file's syntax.
PASSWORD_PATTERN = re.compile(r"^[!#-&(-\[\]-~]{1,512}$")
MIN_PASSWORD_LENGTH = 12
# Nagios refuses object names holding any of its default illegal_object_name_chars
# (`~!$%^&*"|'<>?,()=), and a blank, brace, ';' or '#' breaks the exported
# service definition: names are kept to letters, digits, '.', '_' and '-'.
NAGIOS_NAME = r"[A-Za-z0-9_.-]+"
NAGIOS_NAME_PATTERN = re.compile(rf"^{NAGIOS_NAME}$")
NAGIOS_GROUPS_PATTERN = re.compile(rf"^{NAGIOS_NAME}(,{NAGIOS_NAME})*$")
APPENDFSYNC = ("everysec", "always", "no")
MAXMEMORY_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)
# Redis's own size units (memtoll): k, m, g are powers of 1000, kb, mb, gb of 1024.
MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
MEMORY_PATTERN = re.compile(r"^(\d{1,15})(b|k|kb|m|mb|g|gb)?$", re.IGNORECASE)
SNAP_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SNAP_CHANNEL_PATTERN = re.compile(r"^[a-z0-9./_-]+$")
URL_PATTERN = re.compile(r"^https?://[^\s/]+(/\S*)?$")
# snapd's refresh.timer: days, times and ranges such as "mon,10:00-12:00" or "fri5,23:00~24:00".
REFRESH_TIMER_PATTERN = re.compile(r"^(max|[a-z0-9,:.~-]+)$")
# Redis runs as the unprivileged redis user: it cannot listen below 1024.
LOWEST_PORT = 1024
MAX_DATABASES = 1_000_000
MAX_CLUSTER_REPLICAS = 5


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
    appendonly: bool = False
    appendfsync: str = "everysec"
    # Snapshot points as (seconds, changes); empty: no snapshots.
    save: tuple[tuple[int, int], ...] = ((3600, 1), (300, 100), (60, 10000))
    maxmemory: int = 0
    maxmemory_policy: str = "noeviction"
    cluster_replicas: int = 0
    # Where Redis serves TLS once a certificate arrived over `certificates`, and
    # whether the plain port stays open beside it.
    tls_port: int = 6380
    tls_keep_plain_port: bool = False
    # Where prometheus-redis-exporter serves /metrics on the unit's address.
    metrics_port: int = 9121
    # The ACL rules of each related application's user, one token each.
    client_permissions: tuple[str, ...] = tuple(DEFAULT_CLIENT_PERMISSIONS.split())
    # Seconds an old password keeps working after a rotation (0: until the rotation ends).
    password_grace_period: int = 3600

    @property
    def persistent(self) -> bool:
        """Whether Redis keeps its data on disk at all (snapshots or the append-only file)."""
        return self.appendonly or bool(self.save)


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


def _boolean(config: Mapping[str, Any], option: str) -> bool:
    value = config.get(option)
    if not isinstance(value, bool):
        raise InvalidOption(option, "must be true or false")
    return value


def _password(config: Mapping[str, Any]) -> str:
    """The configured password (empty: generated), checked without ever echoing it."""
    allowed = f"must be {MIN_PASSWORD_LENGTH} to 512 printable characters without spaces, quotes or backslashes"
    value = _text(config, "password", PASSWORD_PATTERN, allowed)
    if not value:
        return value
    if len(value) < MIN_PASSWORD_LENGTH:
        raise InvalidOption("password", f"must be at least {MIN_PASSWORD_LENGTH} characters (or empty to generate one)")
    if reads_as_json_value(value):
        # Reactive consumers of the redis interface JSON-decode relation data.
        raise InvalidOption("password", "must not read as a JSON number, true, false or null")
    return value


def reads_as_json_value(value: str) -> bool:
    try:
        decoded = json.loads(value)
    except ValueError:
        return False
    return not isinstance(decoded, str)


# ACL rules that are the charm's to set, not the operator's: passwords, on/off, reset, selectors.
CHARM_OWNED_RULES = frozenset(
    {"on", "off", "nopass", "resetpass", "reset", "sanitize-payload", "skip-sanitize-payload"}
)


def _client_permissions(config: Mapping[str, Any]) -> tuple[str, ...]:
    """ACL rules for keys, channels and commands; Redis itself checks the names when they are applied."""
    allowed = (
        "must be ACL rules for keys, channels and commands such as "
        f'"{DEFAULT_CLIENT_PERMISSIONS}" (passwords, on/off, reset and selectors are set by the charm)'
    )
    tokens = tuple(_text(config, "client-permissions").split())
    if not tokens or any(
        token.lower() in CHARM_OWNED_RULES or token[0] in "<>#!()" or ")" in token for token in tokens
    ):
        raise InvalidOption("client-permissions", allowed)
    return tokens


def _nagios(config: Mapping[str, Any], option: str, pattern: re.Pattern[str], what: str, required: bool) -> str:
    value = _text(config, option)
    if (value or required) and not pattern.match(value):
        raise InvalidOption(option, what)
    return value


def _save(config: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    value = _text(config, "save")
    numbers = value.split()
    allowed = 'must be pairs of "<seconds> <changes>" such as "3600 1 300 100", or "" for no snapshots'
    if len(numbers) % 2 or not all(number.isdigit() and len(number) < 10 for number in numbers):
        raise InvalidOption("save", allowed)
    pairs = tuple((int(seconds), int(changes)) for seconds, changes in zip(numbers[::2], numbers[1::2], strict=True))
    if any(seconds < 1 for seconds, _ in pairs):
        raise InvalidOption("save", allowed)
    return pairs


def memory_bytes(text: str) -> int:
    """Bytes in a Redis memory size such as 512mb, 1gb or 0; ValueError when it is none."""
    found = MEMORY_PATTERN.match(text.strip())
    if not found:
        raise ValueError(text)
    return int(found.group(1)) * MEMORY_UNITS[(found.group(2) or "").lower()]


def _maxmemory(config: Mapping[str, Any], machine_memory: int | None) -> int:
    value = config.get("maxmemory")
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        limit = memory_bytes(text) if isinstance(text, str) else -1
    except ValueError:
        limit = -1
    if limit < 0:
        raise InvalidOption("maxmemory", "must be 0 (no limit) or a size such as 512mb or 1gb")
    if machine_memory and limit > machine_memory:
        raise InvalidOption("maxmemory", f"must not exceed this machine's memory ({machine_memory // 1024**2}mb)")
    return limit


def parse(
    config: Mapping[str, Any], deployed_cluster_enabled: bool | None = None, machine_memory: int | None = None
) -> Settings:
    """Validate `config` (as config-get returns it) into Settings.

    `deployed_cluster_enabled` is the value cluster-enabled had when the unit
    first configured Redis (None before that): it cannot change afterwards.
    `machine_memory` is the machine's RAM in bytes (None: unknown), which
    maxmemory may not exceed.
    """
    cluster_enabled = _boolean(config, "cluster-enabled")
    if deployed_cluster_enabled is not None and cluster_enabled != deployed_cluster_enabled:
        allowed = f"can only be set at deploy time; set it back to {str(deployed_cluster_enabled).lower()}"
        raise InvalidOption("cluster-enabled", allowed)
    save = _save(config)
    appendonly = _boolean(config, "appendonly")
    if cluster_enabled and not (save or appendonly):
        # A cluster node restarted without its data would serve its slots empty.
        raise InvalidOption("save", 'must keep snapshots (or set appendonly=true) with cluster-enabled, not ""')
    return Settings(
        port=_integer(config, "port", LOWEST_PORT, 65535),
        password=_password(config),
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
        nagios_context=_nagios(
            config, "nagios_context", NAGIOS_NAME_PATTERN, "must be letters, digits, '.', '_' or '-'", required=True
        ),
        nagios_servicegroups=_nagios(
            config,
            "nagios_servicegroups",
            NAGIOS_GROUPS_PATTERN,
            "must be comma-separated names of letters, digits, '.', '_' or '-' (empty: nagios_context)",
            required=False,
        ),
        appendonly=appendonly,
        appendfsync=_choice(config, "appendfsync", APPENDFSYNC),
        save=save,
        cluster_replicas=_integer(config, "cluster-replicas", 0, MAX_CLUSTER_REPLICAS),
        maxmemory=_maxmemory(config, machine_memory),
        maxmemory_policy=_choice(config, "maxmemory-policy", MAXMEMORY_POLICIES),
        tls_port=_integer(config, "tls-port", LOWEST_PORT, 65535),
        tls_keep_plain_port=_boolean(config, "tls-keep-plain-port"),
        metrics_port=_metrics_port(config, cluster_enabled),
        client_permissions=_client_permissions(config),
        password_grace_period=_integer(config, "password-grace-period", 0, 2**31 - 1),
    )


def _metrics_port(config: Mapping[str, Any], cluster_enabled: bool) -> int:
    """The exporter's port: unprivileged (it runs as `prometheus`), apart from Redis's own ports."""
    value = _integer(config, "metrics-port", LOWEST_PORT, 65535)
    redis_port = config.get("port")
    taken = {redis_port, redis_port + 10000} if cluster_enabled and isinstance(redis_port, int) else {redis_port}
    if value in taken:
        raise InvalidOption("metrics-port", "must differ from port (and, with cluster-enabled, from port + 10000)")
    return value
