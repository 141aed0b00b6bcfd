"""Each refusal in full (the operator reads it in `juju status`), and every range at both of its ends."""

from __future__ import annotations

import pytest

from charms.layer.redis import settings

from fakejuju import config_defaults

DEFAULTS = config_defaults()
WHOLE = "must be a whole number from"
BIGGEST = 2**31 - 1


def refusal(**config: object) -> str:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, **config})
    return str(raised.value)


@pytest.mark.parametrize(
    ("option", "low", "high"),
    [
        ("port", 1024, 65535),
        ("databases", 1, 1_000_000),
        ("timeout", 0, BIGGEST),
        ("tcp-keepalive", 0, BIGGEST),
        ("tls-port", 1024, 65535),
        ("metrics-port", 1024, 65535),
        ("cluster-replicas", 0, 5),
        ("password-grace-period", 0, BIGGEST),
    ],
)
def test_whole_numbers_are_taken_at_both_ends_of_their_range_and_refused_beyond(
    option: str, low: int, high: int
) -> None:
    field = option.replace("-", "_")
    assert getattr(settings.parse({**DEFAULTS, option: low}), field) == low
    assert getattr(settings.parse({**DEFAULTS, option: high}), field) == high
    message = f"invalid {option}: {WHOLE} {low} to {high}"
    assert refusal(**{option: low - 1}) == message
    assert refusal(**{option: high + 1}) == message
    assert refusal(**{option: str(low)}) == message
    assert refusal(**{option: None}) == message


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("log-level", "loud", "invalid log-level: must be one of debug, verbose, notice, warning"),
        ("install-source", "tarball", "invalid install-source: must be one of apt, snap"),
        (
            "password",
            "two words",
            "invalid password: must be 12 to 512 printable characters without spaces, quotes or backslashes",
        ),
        ("password", "tab\there", "invalid password: must be text without control characters"),
        ("password", "del\x7f", "invalid password: must be text without control characters"),
        ("password", 42, "invalid password: must be text without control characters"),
        ("snap-name", "Redis", "invalid snap-name: must be a snap name (lowercase letters, digits, -)"),
        ("snap-channel", "7 stable", "invalid snap-channel: must be a channel such as 7/stable"),
        ("snap_proxy", "proxy:3128", "invalid snap_proxy: must be an http:// or https:// address"),
        ("snap_proxy_url", "store", "invalid snap_proxy_url: must be an http:// or https:// address"),
        (
            "snapd_refresh",
            "Fri 23:00",
            'invalid snapd_refresh: must be "max" or a snapd timer such as fri,23:00-01:00',
        ),
        ("nagios_context", "a/b", "invalid nagios_context: must be letters, digits, '.', '_' or '-'"),
        ("nagios_servicegroups", "a\nb", "invalid nagios_servicegroups: must be text without control characters"),
        (
            "nagios_servicegroups",
            "a b",
            "invalid nagios_servicegroups: must be comma-separated names of letters, digits, '.', '_' or '-' "
            "(empty: nagios_context)",
        ),
        ("maxmemory", True, "invalid maxmemory: must be 0 (no limit) or a size such as 512mb or 1gb"),
        ("maxmemory", None, "invalid maxmemory: must be 0 (no limit) or a size such as 512mb or 1gb"),
        ("maxmemory", "lots", "invalid maxmemory: must be 0 (no limit) or a size such as 512mb or 1gb"),
        ("cluster-enabled", "yes", "invalid cluster-enabled: must be true or false"),
    ],
)
def test_each_refusal_names_the_option_and_what_is_allowed(option: str, value: object, message: str) -> None:
    assert refusal(**{option: value}) == message


def test_the_refusal_keeps_the_option_and_what_is_allowed_apart() -> None:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, "port": 1})
    assert (raised.value.option, raised.value.allowed) == ("port", "must be a whole number from 1024 to 65535")


def test_booleans_are_not_numbers_even_where_one_is_in_range() -> None:
    assert refusal(timeout=True) == f"invalid timeout: {WHOLE} 0 to {BIGGEST}"
    assert refusal(databases=True) == f"invalid databases: {WHOLE} 1 to 1000000"


def test_settings_are_values() -> None:
    assert hash(settings.parse(DEFAULTS)) == hash(settings.parse(dict(DEFAULTS)))


def test_printable_ascii_passwords_are_taken_from_12_up_to_512_characters() -> None:
    edge = "!#$%&()*+,-./09:;<=>?@AZ[]^_`az{|}~"
    assert settings.parse({**DEFAULTS, "password": edge}).password == edge
    assert settings.parse({**DEFAULTS, "password": "x" * 512}).password == "x" * 512
    assert settings.parse({**DEFAULTS, "password": "x" * 12}).password == "x" * 12
    too_short = "invalid password: must be at least 12 characters (or empty to generate one)"
    assert refusal(password="x" * 11) == too_short
    assert refusal(password="x") == too_short
    for refused in ("'", "\\", " ", "é"):
        assert refusal(password=f"a{refused}b").startswith("invalid password: must be 12 to 512")


def test_unset_text_options_are_empty() -> None:
    parsed = settings.parse({**DEFAULTS, "password": None, "nagios_servicegroups": None, "snap_proxy": None})
    assert (parsed.password, parsed.nagios_servicegroups, parsed.snap_proxy) == ("", "", "")


def test_a_missing_cluster_enabled_is_refused() -> None:
    config = dict(DEFAULTS)
    del config["cluster-enabled"]
    with pytest.raises(settings.InvalidOption, match=r"^invalid cluster-enabled: must be true or false$"):
        settings.parse(config)


def test_cluster_enabled_set_back_is_told_the_deployed_value() -> None:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, "cluster-enabled": False}, deployed_cluster_enabled=True)
    assert str(raised.value) == "invalid cluster-enabled: can only be set at deploy time; set it back to true"


def test_every_option_reaches_the_settings() -> None:
    config = {
        **DEFAULTS,
        "port": 7000,
        "password": "prod-password",
        "log-level": "debug",
        "databases": 4,
        "timeout": 9,
        "tcp-keepalive": 60,
        "install-source": "snap",
        "snap-name": "redis-7",
        "snap-channel": "7/edge",
        "snap_proxy": "http://p:1",
        "snap_proxy_url": "https://s",
        "snapd_refresh": "max",
        "nagios_context": "prod",
        "nagios_servicegroups": "dbs",
    }
    assert settings.parse(config) == settings.Settings(
        port=7000,
        password="prod-password",
        loglevel="debug",
        databases=4,
        timeout=9,
        tcp_keepalive=60,
        cluster_enabled=False,
        install_source="snap",
        snap_name="redis-7",
        snap_channel="7/edge",
        snap_proxy="http://p:1",
        snap_proxy_url="https://s",
        snapd_refresh="max",
        nagios_context="prod",
        nagios_servicegroups="dbs",
    )


@pytest.mark.parametrize("name", ["a", "a-1", "x" * 40])
def test_snap_names_as_snapd_allows(name: str) -> None:
    assert settings.parse({**DEFAULTS, "snap-name": name}).snap_name == name


@pytest.mark.parametrize("name", ["-a", "x" * 41, "a_b"])
def test_snap_names_snapd_refuses(name: str) -> None:
    assert refusal(**{"snap-name": name}).startswith("invalid snap-name: ")


@pytest.mark.parametrize(
    "rule", ["on", "off", "nopass", "resetpass", "reset", "sanitize-payload", "SKIP-SANITIZE-PAYLOAD"]
)
def test_client_permissions_may_not_take_the_rules_the_charm_sets_itself(rule: str) -> None:
    assert refusal(**{"client-permissions": f"~* +@all {rule}"}) == (
        'invalid client-permissions: must be ACL rules for keys, channels and commands such as "~* &* +@all '
        '-@admin -@dangerous +info" (passwords, on/off, reset and selectors are set by the charm)'
    )


@pytest.mark.parametrize("rule", [">password", "<password", "#" + "a" * 64, "!" + "a" * 64, "(~x", "+get)"])
def test_client_permissions_may_not_touch_passwords_or_selectors(rule: str) -> None:
    assert refusal(**{"client-permissions": f"~* {rule} +@all"}).startswith("invalid client-permissions: ")


def test_rule_names_the_charm_does_not_own_are_left_for_redis_to_check() -> None:
    # Redis judges the names when the users are applied (a refusal then names the option too).
    rules = "~* Xunknown +get"
    assert settings.parse({**DEFAULTS, "client-permissions": rules}).client_permissions == ("~*", "Xunknown", "+get")


def test_save_takes_points_from_one_second_and_up_to_nine_digits() -> None:
    assert settings.parse({**DEFAULTS, "save": "1 1"}).save == ((1, 1),)
    assert settings.parse({**DEFAULTS, "save": "999999999 999999999"}).save == ((999999999, 999999999),)
    message = 'invalid save: must be pairs of "<seconds> <changes>" such as "3600 1 300 100", or "" for no snapshots'
    assert refusal(save="0 1") == message
    assert refusal(save="1000000000 1") == message
    assert refusal(save="1 1000000000") == message


def test_a_metrics_port_taken_by_redis_is_refused_in_full() -> None:
    message = "invalid metrics-port: must differ from port (and, with cluster-enabled, from port + 10000)"
    assert refusal(**{"metrics-port": 6379}) == message
    assert refusal(**{"metrics-port": 16379, "cluster-enabled": True}) == message
