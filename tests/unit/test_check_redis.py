"""The Nagios plugin's own parts without a server: RESP, INFO, the memory verdict at its boundaries, its output."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from charms.layer.redis import check_redis

from conftest import free_port


def reply(data: bytes) -> str | int | None:
    return check_redis.read_reply(io.BytesIO(data))


def test_exit_codes_and_labels_follow_the_nagios_plugin_api() -> None:
    codes = (check_redis.OK, check_redis.WARNING, check_redis.CRITICAL, check_redis.UNKNOWN)
    assert codes == (0, 1, 2, 3)
    assert [check_redis.LABELS[code] for code in codes] == ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
    assert check_redis.DEFAULT_CONFIG == "/etc/nagios/check_redis_charm.json"


def test_commands_are_encoded_as_resp_arrays_of_bulk_strings() -> None:
    assert check_redis.encode("AUTH", "pässword") == b"*2\r\n$4\r\nAUTH\r\n$9\r\np\xc3\xa4ssword\r\n"
    assert check_redis.encode("PING") == b"*1\r\n$4\r\nPING\r\n"


def test_each_reply_type_is_read() -> None:
    assert reply(b"+PONG\r\n") == "PONG"
    assert reply(b":42\r\n") == 42
    assert reply(b"$5\r\nhello\r\nrest") == "hello"
    assert reply(b"$0\r\n\r\n") == ""
    assert reply(b"$-1\r\n") is None
    assert reply(b"*3\r\n$5\r\nflags\r\n*2\r\n+on\r\n+nopass\r\n:7\r\n") == ["flags", ["on", "nopass"], 7]
    assert reply(b"*0\r\n") == [] and reply(b"*-1\r\n") is None
    with pytest.raises(check_redis.RedisReplyError, match=r"^WRONGPASS invalid password$"):
        reply(b"-WRONGPASS invalid password\r\n")


def test_a_closed_or_garbled_connection_is_a_connection_error() -> None:
    with pytest.raises(ConnectionError, match=r"^connection closed$"):
        reply(b"+PON")
    with pytest.raises(ConnectionError, match=r"^unexpected reply type b'%'$"):
        reply(b"%1\r\n")


def test_info_fields_are_parsed_and_section_headers_skipped() -> None:
    text = "# Server\r\nredis_version:7.0.15\r\nrole:master\r\n# Memory\r\nused_memory: 100 \r\n#note:x\r\n\r\n"
    assert check_redis.parse_info(text) == {"redis_version": "7.0.15", "role": "master", "used_memory": "100"}
    assert check_redis.parse_info("no colon here") == {}


def info(used: int, limit: int) -> dict[str, str]:
    return {"redis_version": "7.0.15", "role": "master", "used_memory": str(used), "maxmemory": str(limit)}


@pytest.mark.parametrize(
    ("used", "limit", "code"),
    [
        (799, 1000, check_redis.OK),
        (800, 1000, check_redis.WARNING),  # exactly the warning ratio
        (899, 1000, check_redis.WARNING),
        (900, 1000, check_redis.CRITICAL),  # exactly the critical ratio
        (2, 1, check_redis.CRITICAL),  # the smallest maxmemory counts
        (1, 1, check_redis.CRITICAL),
        (10**12, 0, check_redis.OK),  # no maxmemory: no memory verdict
    ],
)
def test_memory_thresholds_at_their_boundaries(used: int, limit: int, code: int) -> None:
    assert check_redis.judge(info(used, limit), 0.8, 0.9).code == code


def test_the_verdict_says_version_role_memory_and_ratio() -> None:
    assert check_redis.judge(info(850, 1000), 0.8, 0.9).message == (
        "redis 7.0.15 role=master used_memory=850 maxmemory=1000 (85%)"
    )
    assert check_redis.judge(info(5, 0), 0.8, 0.9).message == "redis 7.0.15 role=master used_memory=5"
    assert check_redis.judge({}, 0.8, 0.9) == check_redis.Verdict(check_redis.OK, "redis ? role=? used_memory=0")


def test_verdicts_are_values() -> None:
    verdict = check_redis.Verdict(check_redis.OK, "fine")
    assert verdict == check_redis.Verdict(0, "fine") and hash(verdict) == hash(check_redis.Verdict(0, "fine"))


class FakeServer:
    """A one-connection RESP server on loopback that answers from a script and records what it was sent."""

    def __init__(self, answers: bytes) -> None:
        self.port = free_port()
        self.answers = answers
        self.received = b""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(2)
            connection.sendall(self.answers)
            try:
                while chunk := connection.recv(4096):
                    self.received += chunk
            except OSError:
                pass


def test_the_plugin_authenticates_then_pings_and_reads_info() -> None:
    body = "redis_version:7.2.4\r\nrole:replica\r\nused_memory:10\r\nmaxmemory:0\r\n"
    server = FakeServer(b"+OK\r\n+PONG\r\n$%d\r\n%s\r\n" % (len(body), body.encode()))
    verdict = check_redis.check("127.0.0.1", server.port, "s3cret", 0.8, 0.9, 2.0)
    assert verdict == check_redis.Verdict(check_redis.OK, "redis 7.2.4 role=replica used_memory=10")
    server.thread.join(3)
    assert server.received == check_redis.encode("AUTH", "s3cret") + check_redis.encode("PING") + (
        check_redis.encode("INFO")
    )


def test_without_a_password_the_plugin_does_not_authenticate() -> None:
    server = FakeServer(b"+PONG\r\n$0\r\n\r\n")
    assert check_redis.check("127.0.0.1", server.port, "", 0.8, 0.9, 2.0).code == check_redis.OK
    server.thread.join(3)
    assert not server.received.startswith(b"*2\r\n$4\r\nAUTH")


def test_a_server_that_does_not_pong_is_critical() -> None:
    server = FakeServer(b"+OK\r\n+NOPE\r\n")
    verdict = check_redis.check("127.0.0.1", server.port, "pw", 0.8, 0.9, 2.0)
    assert verdict == check_redis.Verdict(check_redis.CRITICAL, "Redis did not answer PING with PONG")


def test_a_refusal_is_critical_and_names_only_the_error_code() -> None:
    server = FakeServer(b"-WRONGPASS invalid username-password pair\r\n")
    verdict = check_redis.check("127.0.0.1", server.port, "pw", 0.8, 0.9, 2.0)
    assert verdict == check_redis.Verdict(check_redis.CRITICAL, "Redis refused: WRONGPASS")


def test_an_unreachable_server_is_critical() -> None:
    port = free_port()
    verdict = check_redis.check("127.0.0.1", port, "pw", 0.8, 0.9, 1.0)
    assert verdict.code == check_redis.CRITICAL
    assert verdict.message.startswith(f"cannot reach Redis at 127.0.0.1:{port}: ")


def test_main_reads_its_config_prints_one_line_and_exits_with_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "redis_version:7.0.15\r\nrole:master\r\nused_memory:85\r\nmaxmemory:100\r\n"
    server = FakeServer(b"+PONG\r\n$%d\r\n%s\r\n" % (len(body), body.encode()))
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": str(server.port)}))
    assert check_redis.main(["--config", str(config)]) == check_redis.WARNING
    assert capsys.readouterr().out == "REDIS WARNING: redis 7.0.15 role=master used_memory=85 maxmemory=100 (85%)\n"


@pytest.mark.parametrize(("warn", "crit", "code"), [("0.9", "0.95", 0), ("0.5", "0.84", 2)])
def test_main_takes_the_thresholds_from_its_options(tmp_path: Path, warn: str, crit: str, code: int) -> None:
    body = "used_memory:85\r\nmaxmemory:100\r\n"
    server = FakeServer(b"+PONG\r\n$%d\r\n%s\r\n" % (len(body), body.encode()))
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": server.port}))
    assert check_redis.main(["--config", str(config), "--warn", warn, "--crit", crit, "--timeout", "2"]) == code


def test_the_default_thresholds_are_80_and_90_percent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "used_memory:90\r\nmaxmemory:100\r\n"
    server = FakeServer(b"+PONG\r\n$%d\r\n%s\r\n" % (len(body), body.encode()))
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": server.port}))
    assert check_redis.main(["--config", str(config)]) == check_redis.CRITICAL


def test_main_passes_its_config_and_default_options_to_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[object, ...]] = []
    monkeypatch.setattr(check_redis, "check", lambda *args: asked.append(args) or check_redis.Verdict(0, "fine"))
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": "6380"}))
    assert check_redis.main(["--config", str(config)]) == check_redis.OK
    assert asked == [("127.0.0.1", 6380, "", 0.8, 0.9, 5.0, "", "")]
    config.write_text(json.dumps({"host": "127.0.0.1", "port": "6380", "ca": "PEM"}))
    check_redis.main(["--config", str(config)])
    assert asked[-1] == ("127.0.0.1", 6380, "", 0.8, 0.9, 5.0, "PEM", "")


def test_help_says_what_the_plugin_and_each_option_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        check_redis.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "Nagios plugin: is this unit's Redis answering, with the right password, and not short of memory?" in shown
    assert " JSON file with host, port, password " in shown
    assert " used/maxmemory ratio for WARNING " in shown
    assert " used/maxmemory ratio for CRITICAL " in shown


def test_run_as_a_program_it_prints_its_verdict_and_exits_with_it(tmp_path: Path) -> None:
    config = tmp_path / "check.json"
    config.write_text("not json")
    done = subprocess.run(
        [sys.executable, check_redis.__file__, "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == check_redis.UNKNOWN
    assert done.stdout.startswith(f"REDIS UNKNOWN: cannot read {config}: ")


def test_a_config_without_host_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"port": 1}))
    assert check_redis.main(["--config", str(config)]) == check_redis.UNKNOWN
    assert capsys.readouterr().out == f"REDIS UNKNOWN: cannot read {config}: 'host'\n"


def test_the_default_config_is_the_charms_file(capsys: pytest.CaptureFixture[str]) -> None:
    if Path(check_redis.DEFAULT_CONFIG).exists():
        pytest.skip("this machine has the charm's check config")
    assert check_redis.main([]) == check_redis.UNKNOWN
    assert f"cannot read {check_redis.DEFAULT_CONFIG}: " in capsys.readouterr().out


def test_main_logs_in_as_the_configured_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[object, ...]] = []
    monkeypatch.setattr(check_redis, "check", lambda *args: asked.append(args) or check_redis.Verdict(0, "fine"))
    config = tmp_path / "check.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": 6380, "username": "charm-monitoring", "password": "pw"}))
    check_redis.main(["--config", str(config)])
    assert asked == [("127.0.0.1", 6380, "pw", 0.8, 0.9, 5.0, "", "charm-monitoring")]


def test_a_cluster_node_is_critical_unless_its_state_is_ok_and_every_slot_served() -> None:
    healthy = check_redis.Verdict(check_redis.OK, "redis 7.0.15 role=master used_memory=1")
    assert check_redis.judge_cluster({}, healthy) == check_redis.Verdict(
        check_redis.CRITICAL, "redis 7.0.15 role=master used_memory=1 cluster_state=? slots_ok=0/16384"
    )
    failing = {"cluster_state": "fail", "cluster_slots_ok": "16384"}
    assert check_redis.judge_cluster(failing, healthy).code == check_redis.CRITICAL
    served = {"cluster_state": "ok", "cluster_slots_ok": "16384"}
    assert check_redis.judge_cluster(served, healthy).code == check_redis.OK
