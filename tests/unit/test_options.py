"""The persistence and memory options, password strength and Nagios names: validated, rendered, live."""

from __future__ import annotations

import pytest

from charms.layer.redis import conf, service, settings

from fakejuju import config_defaults

DEFAULTS = config_defaults()

GIB = 1024**3


def parse(**options: object) -> settings.Settings:
    return settings.parse({**DEFAULTS, **options}, machine_memory=8 * GIB)


def refusal(option: str, value: object, machine_memory: int | None = 8 * GIB) -> str:
    with pytest.raises(settings.InvalidOption) as raised:
        settings.parse({**DEFAULTS, option: value}, machine_memory=machine_memory)
    assert raised.value.option == option
    return str(raised.value)


def test_defaults_keep_snapshots_and_set_no_memory_limit() -> None:
    parsed = parse()
    assert parsed.save == ((3600, 1), (300, 100), (60, 10000))
    assert (parsed.appendonly, parsed.appendfsync, parsed.maxmemory, parsed.maxmemory_policy) == (
        False,
        "everysec",
        0,
        "noeviction",
    )
    assert parsed.persistent


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("1gb", GIB), ("512mb", 512 * 1024**2), ("512MB", 512 * 1024**2), ("1g", 10**9), ("100kb", 102400)],
)
def test_maxmemory_takes_redis_units(text: str, size: int) -> None:
    assert parse(maxmemory=text).maxmemory == size


@pytest.mark.parametrize("value", ["lots", "-1", "1.5gb", "1 gb", "1tb", ""])
def test_maxmemory_refuses_what_redis_would_not_read(value: str) -> None:
    assert refusal("maxmemory", value) == "invalid maxmemory: must be 0 (no limit) or a size such as 512mb or 1gb"


def test_maxmemory_above_the_machines_memory_is_refused() -> None:
    assert refusal("maxmemory", "9gb") == "invalid maxmemory: must not exceed this machine's memory (8192mb)"
    assert parse(maxmemory="8gb").maxmemory == 8 * GIB
    assert settings.parse({**DEFAULTS, "maxmemory": "9gb"}, machine_memory=None).maxmemory == 9 * GIB


@pytest.mark.parametrize(
    ("text", "points"),
    [("", ()), ("900 1", ((900, 1),)), ("3600 1 300 100", ((3600, 1), (300, 100))), ("60 0", ((60, 0),))],
)
def test_save_is_a_schedule_of_pairs(text: str, points: tuple[tuple[int, int], ...]) -> None:
    assert parse(save=text).save == points


@pytest.mark.parametrize("value", ["900", "900 1 300", "0 1", "every hour", "900 -1", '""'])
def test_save_refuses_anything_but_pairs(value: str) -> None:
    assert refusal("save", value).startswith('invalid save: must be pairs of "<seconds> <changes>"')


def test_choices_name_what_is_allowed() -> None:
    assert refusal("appendfsync", "sometimes") == "invalid appendfsync: must be one of everysec, always, no"
    assert refusal("maxmemory-policy", "lru").startswith("invalid maxmemory-policy: must be one of noeviction, ")
    assert refusal("appendonly", "yes") == "invalid appendonly: must be true or false"


def test_no_persistence_at_all_is_said() -> None:
    assert not parse(save="").persistent
    assert parse(save="", appendonly=True).persistent


def test_options_are_rendered_as_redis_reads_them() -> None:
    parsed = parse(
        appendonly=True, appendfsync="always", save="", maxmemory="1gb", **{"maxmemory-policy": "allkeys-lru"}
    )
    found = conf.directives(conf.render(parsed, "x" * 12, "10.0.0.1", service.APT_LAYOUT))
    assert (found["appendonly"], found["appendfsync"], found["save"]) == ("yes", "always", '""')
    assert (found["maxmemory"], found["maxmemory-policy"]) == (str(GIB), "allkeys-lru")


def test_every_new_option_goes_live() -> None:
    before = conf.render(parse(), "x" * 12, "10.0.0.1", service.APT_LAYOUT)
    after = conf.render(
        parse(appendonly=True, appendfsync="no", save="", maxmemory="1gb", **{"maxmemory-policy": "allkeys-lfu"}),
        "x" * 12,
        "10.0.0.1",
        service.APT_LAYOUT,
    )
    plan = conf.plan(before, after, (7, 0, 15))
    assert not plan.restart
    assert plan.live == {
        "appendfsync": "no",
        "appendonly": "yes",
        "maxmemory": str(GIB),
        "maxmemory-policy": "allkeys-lfu",
        "save": "",
    }


@pytest.mark.parametrize("value", ["x", "short-pw-11", "eleven-char"])
def test_short_passwords_are_refused(value: str) -> None:
    message = refusal("password", value)
    assert message == "invalid password: must be at least 12 characters (or empty to generate one)"
    assert value not in message


@pytest.mark.parametrize("value", ["100000000000", "1e1000000000", "-12345678901", "123456789.01"])
def test_passwords_that_read_as_json_numbers_are_refused(value: str) -> None:
    assert refusal("password", value) == "invalid password: must not read as a JSON number, true, false or null"


def test_a_strong_password_and_todays_checks() -> None:
    assert parse(password="correct-horse-battery").password == "correct-horse-battery"
    assert parse(password="").password == ""
    assert "without spaces" in refusal("password", "twelve chars with spaces")


@pytest.mark.parametrize(
    "value", ["web}\ndefine service {", "a;b", "$(reboot)", "`id`", "   ", "a, b", "a,,b", "x{", "#comment"]
)
def test_nagios_servicegroups_refuse_what_breaks_a_nagios_definition(value: str) -> None:
    assert refusal("nagios_servicegroups", value).startswith("invalid nagios_servicegroups: ")


@pytest.mark.parametrize("value", ["", "   ", "a b", "x}", "ctx;", "$(id)", "a,b"])
def test_nagios_context_must_be_a_name(value: str) -> None:
    assert refusal("nagios_context", value) == "invalid nagios_context: must be letters, digits, '.', '_' or '-'"


def test_valid_nagios_names() -> None:
    parsed = parse(nagios_context="prod-eu_1.redis", nagios_servicegroups="redis,prod-eu")
    assert (parsed.nagios_context, parsed.nagios_servicegroups) == ("prod-eu_1.redis", "redis,prod-eu")
    assert parse(nagios_servicegroups="").nagios_servicegroups == ""
