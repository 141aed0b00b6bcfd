"""The generated passwords' secret: references shared by the leader, the cache, what is generated."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from charms.layer.redis import credentials
from charms.layer.redis.credentials import Cache, SecretRef

from fakejuju import config_defaults

DEFAULTS = config_defaults()


class FakeSecrets:
    """Juju's secret tools for an application that owns one secret."""

    def __init__(self) -> None:
        self.revisions: dict[str, list[dict[str, str]]] = {}
        self.gets = 0

    def add(self, content: Mapping[str, str], label: str) -> str:
        ident = f"secret:{len(self.revisions) + 1}"
        self.revisions[ident] = [dict(content)]
        return ident

    def set(self, ident: str, content: Mapping[str, str]) -> None:
        self.revisions[ident].append(dict(content))

    def get(self, ident: str) -> dict[str, str]:
        self.gets += 1
        return dict(self.revisions[ident][-1])


def test_the_reference_comes_from_the_two_leader_settings() -> None:
    assert credentials.ref_from({"password-secret": "secret:abc", "password-secret-revision": "3"}) == SecretRef(
        "secret:abc", 3
    )
    assert credentials.ref_from({"password-secret": "secret:abc"}) is None
    assert credentials.ref_from({"password-secret": "secret:abc", "password-secret-revision": "x"}) is None
    assert credentials.ref_from({"password": "legacy"}) is None


def test_the_shared_settings_delete_an_earlier_revisions_password_only_when_there_is_one() -> None:
    ref = SecretRef("secret:abc", 1)
    assert credentials.leader_values(ref, {}) == {"password-secret": "secret:abc", "password-secret-revision": "1"}
    assert credentials.leader_values(ref, {"password": "old"})["password"] is None


def test_a_generated_password_never_reads_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = iter(["1e10", "12345", "true", "usable-password-after-three-tries"])
    monkeypatch.setattr(credentials.secrets, "token_urlsafe", lambda size: next(candidates))
    assert credentials.generate_password() == "usable-password-after-three-tries"


def test_create_keeps_an_earlier_password_and_caches_it(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ref = credentials.create({"password": "from-an-earlier-revision"}, tools, cache)
    [content] = tools.revisions[ref.id]
    assert (content["password"], content["revision"]) == ("from-an-earlier-revision", "1")
    assert credentials.read(ref, tools, cache)["password"] == "from-an-earlier-revision"
    assert tools.gets == 0


def test_create_gives_each_of_the_charms_own_users_a_distinct_password(tmp_path: Path) -> None:
    tools = FakeSecrets()
    [content] = tools.revisions[credentials.create({}, tools, Cache(tmp_path / "cache.json")).id]
    passwords = [content[name] for name in ("charm-admin", "charm-replication", "charm-monitoring")]
    assert len({*passwords, content["password"]}) == 4
    assert all(len(password) == 43 for password in passwords)


def test_the_leader_adds_the_charms_own_users_to_a_secret_made_before_them_and_keeps_the_rest() -> None:
    earlier = {"password": "default-pw-1", "app-web": "web-pw-12345", "revision": "3"}
    wanted = credentials.leader_content(earlier, {"web"}, DEFAULTS, now=1000.0)
    assert {key: wanted[key] for key in earlier} == earlier
    assert all(len(wanted[name]) == 43 for name in ("charm-admin", "charm-replication", "charm-monitoring"))
    assert credentials.leader_content(wanted, {"web"}, DEFAULTS, now=1000.0) == wanted


def test_a_charm_users_accepted_passwords_are_its_current_then_its_old_ones() -> None:
    content = {
        "charm-admin": "admin-new",
        "old-charm-admin": json.dumps([{"password": "admin-old", "expires": 5.0}]),
        "charm-monitoring": "monitoring-pw",
        "app-web": "web-pw",
    }
    assert credentials.charm_passwords(content) == {
        "charm-admin": ("admin-new", "admin-old"),
        "charm-monitoring": ("monitoring-pw",),
    }


def test_create_generates_a_password_without_an_earlier_one(tmp_path: Path) -> None:
    tools = FakeSecrets()
    ref = credentials.create({}, tools, Cache(tmp_path / "cache.json"))
    assert len(tools.revisions[ref.id][0]["password"]) == 43


def test_read_asks_juju_only_for_a_revision_it_has_not_cached(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ident = tools.add({"password": "one"}, "redis-passwords")
    assert credentials.read(SecretRef(ident, 1), tools, cache) == {"password": "one"}
    assert credentials.read(SecretRef(ident, 1), tools, cache) == {"password": "one"}
    assert tools.gets == 1
    ref = credentials.update(SecretRef(ident, 1), {"password": "two"}, tools, Cache(tmp_path / "leader.json"))
    assert credentials.read(ref, tools, cache) == {"password": "two", "revision": "2"}
    assert tools.gets == 2


def test_a_revision_announced_before_the_leaders_hook_ended_is_waited_for(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ident = tools.add({"password": "one", "revision": "1"}, "redis-passwords")
    sleeps: list[float] = []

    def leader_hook_ends(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            tools.set(ident, {"password": "two", "revision": "2"})

    assert credentials.read(SecretRef(ident, 2), tools, cache, sleep=leader_hook_ends)["password"] == "two"
    assert len(sleeps) == 3


def test_a_revision_still_unreadable_after_the_wait_is_an_error_and_not_cached(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ident = tools.add({"password": "one", "revision": "1"}, "redis-passwords")
    with pytest.raises(credentials.SecretError, match=r"^revision 2 of the passwords' secret is not readable yet$"):
        credentials.read(SecretRef(ident, 2), tools, cache, wait=3, sleep=lambda seconds: None)
    assert cache.read(SecretRef(ident, 2)) is None and tools.gets == 4


def test_a_unit_waits_a_minute_asking_every_second_before_giving_up_on_a_revision(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ident = tools.add({"password": "one", "revision": "1"}, "redis-passwords")
    sleeps: list[float] = []
    with pytest.raises(credentials.SecretError):
        credentials.read(SecretRef(ident, 2), tools, cache, sleep=sleeps.append)
    assert sleeps == [1.0] * 60


def test_a_revision_that_is_not_a_number_is_never_taken_for_the_one_announced(tmp_path: Path) -> None:
    tools, cache = FakeSecrets(), Cache(tmp_path / "cache.json")
    ident = tools.add({"password": "one", "revision": "first"}, "redis-passwords")
    with pytest.raises(credentials.SecretError):
        credentials.read(SecretRef(ident, 1), tools, cache, wait=0)
    assert credentials.revision_of({"password": "one"}) == 1  # the first revision predates the key


def test_the_cache_file_is_never_readable_by_others(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.json")
    cache.write(SecretRef("secret:a", 1), {"password": "value"})
    assert (tmp_path / "cache.json").stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "cache.json").read_text())["revision"] == 1
    assert [path.name for path in tmp_path.iterdir()] == ["cache.json"]


def test_an_unreadable_or_foreign_cache_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    path.write_text("not json")
    assert Cache(path).read(SecretRef("secret:a", 1)) is None
    Cache(path).write(SecretRef("secret:b", 1), {"password": "value"})
    assert Cache(path).read(SecretRef("secret:a", 1)) is None


def test_the_hook_tools_pass_content_in_a_0600_file_never_in_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[list[str], int, str]] = []

    def check_output(command: list[str], **kwargs: object) -> str:
        path = Path(command[command.index("--file") + 1])
        seen.append((command, path.stat().st_mode & 0o777, path.read_text()))
        return "secret:new\n"

    monkeypatch.setattr(credentials.subprocess, "check_output", check_output)
    ident = credentials.HookSecretTools().add({"password": "true"}, "redis-passwords")
    command, mode, text = seen[0]
    assert ident == "secret:new" and mode == 0o600
    assert not [arg for arg in command if "true" in arg]
    assert text == 'password: "true"\n'  # quoted: YAML keeps it a string
    assert not Path(command[command.index("--file") + 1]).exists()


def test_only_an_earlier_revision_of_the_passwords_secret_is_removed() -> None:
    ref = SecretRef("secret:d0abc123", 5)
    assert credentials.obsolete_revision(ref, "secret:d0abc123", "4") == 4
    assert credentials.obsolete_revision(ref, "secret://model-uuid/d0abc123", "1") == 1
    assert credentials.obsolete_revision(ref, "secret:d0abc123", "5") is None  # the one every unit reads
    assert credentials.obsolete_revision(ref, "secret:someone-elses", "4") is None
    assert credentials.obsolete_revision(ref, "secret:d0abc123", "") is None
    assert credentials.obsolete_revision(None, "secret:d0abc123", "4") is None
    # Either side may name it with the model's uuid.
    assert credentials.obsolete_revision(SecretRef("secret://model-uuid/d0abc123", 5), "secret:d0abc123", "4") == 4


def test_secret_get_is_asked_for_json_and_its_map_of_strings_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def secret_get(command: list[str], **kwargs: object) -> str:
        ran.append(command)
        return '{"password": "one", "revision": "2"}'

    monkeypatch.setattr(credentials.subprocess, "check_output", secret_get)
    assert credentials.HookSecretTools().get("secret:d0abc123") == {"password": "one", "revision": "2"}
    assert ran == [["secret-get", "secret:d0abc123", "--format", "json"]]


@pytest.mark.parametrize("output", ['["one"]', '{"password": 1}', '"one"'])
def test_secret_get_output_that_is_no_map_of_strings_is_an_error(monkeypatch: pytest.MonkeyPatch, output: str) -> None:
    monkeypatch.setattr(credentials.subprocess, "check_output", lambda command, **kwargs: output)
    with pytest.raises(credentials.SecretError, match=r"^secret-get secret:d0abc123 gave no map of strings$"):
        credentials.HookSecretTools().get("secret:d0abc123")


def test_a_revision_is_removed_with_secret_remove_and_its_number(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(credentials.subprocess, "check_output", lambda command, **kwargs: ran.append(command) or "")
    credentials.HookSecretTools().remove_revision("secret:d0abc123", 4)
    assert ran == [["secret-remove", "secret:d0abc123", "--revision", "4"]]
