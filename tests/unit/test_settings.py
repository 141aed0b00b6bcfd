"""Config validation: every bad value is refused with a message that names the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from charms.layer.redis import settings

from fakejuju import config_defaults

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = config_defaults()


def test_defaults_are_valid() -> None:
    parsed = settings.parse(DEFAULTS)
    assert (parsed.port, parsed.loglevel, parsed.databases, parsed.install_source) == (6379, "notice", 16, "apt")
    assert parsed.password == ""


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("port", 0, "from 1024 to 65535"),
        ("port", 80, "from 1024 to 65535"),
        ("port", 65536, "from 1024 to 65535"),
        ("timeout", -1, "from 0 to"),
        ("tcp-keepalive", -5, "from 0 to"),
        ("password-grace-period", -1, "from 0 to"),
        ("databases", 0, "from 1 to"),
        ("log-level", "loud", "one of debug, verbose, notice, warning"),
        ("install-source", "tarball", "one of apt, snap"),
        ("password", "two words", "without spaces, quotes or backslashes"),
        ("password", "line\nbreak", "without control characters"),
        ("password", 'quo"te', "without spaces, quotes or backslashes"),
        ("password", "x" * 513, "12 to 512"),
        ("nagios_context", "has space", "letters, digits"),
        ("snap-channel", "latest stable", "channel"),
        ("snapd_refresh", "fri\n", "without control characters"),
        ("snapd_refresh", "every friday", 'must be "max" or a snapd timer'),
        ("snap_proxy", "proxy.example:3128", "http:// or https://"),
        ("snap_proxy_url", "ftp://store.example", "http:// or https://"),
    ],
)
def test_bad_values_name_the_option_and_what_is_allowed(option: str, value: object, allowed: str) -> None:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, option: value})
    assert raised.value.option == option
    assert allowed in str(raised.value)
    assert str(raised.value).startswith(f"invalid {option}: ")


def test_a_bad_password_is_never_echoed() -> None:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, "password": "sekret with space"})
    assert "sekret" not in str(raised.value)


def test_cluster_enabled_cannot_change_after_deploy() -> None:
    with pytest.raises(settings.InvalidOption, match="invalid cluster-enabled: can only be set at deploy time"):
        settings.parse({**DEFAULTS, "cluster-enabled": True}, deployed_cluster_enabled=False)
    assert not settings.parse(DEFAULTS, deployed_cluster_enabled=False).cluster_enabled


def test_cluster_mode_takes_replicas_and_needs_persistence() -> None:
    parsed = settings.parse({**DEFAULTS, "cluster-enabled": True, "cluster-replicas": 1})
    assert parsed.cluster_enabled and parsed.cluster_replicas == 1
    with pytest.raises(settings.InvalidOption, match="invalid save: must keep snapshots"):
        settings.parse({**DEFAULTS, "cluster-enabled": True, "save": "", "appendonly": False})
    assert settings.parse({**DEFAULTS, "cluster-enabled": True, "save": "", "appendonly": True}).appendonly
    with pytest.raises(settings.InvalidOption, match="invalid cluster-replicas: must be a whole number from 0 to 5"):
        settings.parse({**DEFAULTS, "cluster-enabled": True, "cluster-replicas": -1})


def test_valid_snap_options() -> None:
    parsed = settings.parse(
        {**DEFAULTS, "snap_proxy": "http://proxy:3128", "snap_proxy_url": "https://store", "snapd_refresh": "max"}
    )
    assert (parsed.snap_proxy, parsed.snap_proxy_url, parsed.snapd_refresh) == (
        "http://proxy:3128",
        "https://store",
        "max",
    )
    assert settings.parse({**DEFAULTS, "snapd_refresh": "fri5,23:00-01:00"}).snapd_refresh == "fri5,23:00-01:00"


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(settings.InvalidOption, match="invalid port"):
        settings.parse({**DEFAULTS, "port": True})


def test_metrics_port_defaults_to_the_exporters_own_9121() -> None:
    assert settings.parse(DEFAULTS).metrics_port == 9121


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({"metrics-port": 80}, "must be a whole number from 1024 to 65535"),
        ({"metrics-port": 6379}, "must differ from port"),
        ({"metrics-port": 16379, "cluster-enabled": True}, "must differ from port"),
    ],
)
def test_a_metrics_port_redis_needs_or_a_privileged_one_is_refused(changes: dict, allowed: str) -> None:
    with pytest.raises(settings.InvalidOption) as refused:
        settings.parse({**DEFAULTS, **changes})
    assert refused.value.option == "metrics-port" and allowed in refused.value.allowed


def test_the_cluster_bus_port_is_free_for_metrics_outside_cluster_mode() -> None:
    assert settings.parse({**DEFAULTS, "metrics-port": 16379}).metrics_port == 16379


# Every value Redis 7 takes for these options is taken as it is.
@pytest.mark.parametrize(
    ("option", "value"),
    [
        *[
            ("maxmemory-policy", policy)
            for policy in (
                "noeviction",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl",
            )
        ],
        *[("appendfsync", fsync) for fsync in ("everysec", "always", "no")],
        *[("loglevel", level) for level in ("debug", "verbose", "notice", "warning")],
    ],
)
def test_every_value_redis_takes_is_accepted(option: str, value: str) -> None:
    name = "log-level" if option == "loglevel" else option
    parsed = settings.parse({**DEFAULTS, name: value})
    assert getattr(parsed, option.replace("-", "_")) == value


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("0", 0),
        ("100", 100),
        ("100b", 100),
        ("3k", 3000),
        ("3kb", 3 * 1024),
        ("3m", 3_000_000),
        ("3mb", 3 * 1024**2),
        ("3g", 3_000_000_000),
        ("3gb", 3 * 1024**3),
        ("3GB", 3 * 1024**3),
        (2048, 2048),
    ],
)
def test_maxmemory_sizes_count_bytes_as_redis_does(size: object, expected: int) -> None:
    assert settings.parse({**DEFAULTS, "maxmemory": size}).maxmemory == expected
