"""The Redis charm on the local model: real hooks, real redis-server processes, real clients.

One model for the module: two Redis units and a redis-client application. Tests
run in file order and each leaves the model as it found it (active), so that a
failure points at the feature that broke.
"""

from __future__ import annotations

import http.server
import json
import secrets
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator

import jubilant
import pytest
import redis
from helpers import admin_login, world_readable_files_holding

from conftest import CHARMS, LOCALJUJU, TESTS, model_dir

pytestmark = pytest.mark.integration

ROOT = TESTS.parent
CHARM = ROOT / "build" / "redis"
APP = "redis"
CLIENT = "redis-client"
CLIENT_KEY = "localjuju-check"  # the key redis-client writes and reads back (its `key` option)


@pytest.fixture(scope="module")
def juju() -> Iterator[jubilant.Juju]:
    if not (CHARM / "metadata.yaml").exists():
        subprocess.run(["make", "build"], cwd=ROOT, check=True)
    juju = jubilant.Juju(cli_binary=LOCALJUJU, wait_timeout=120)
    name = f"redis-{secrets.token_hex(4)}"
    juju.add_model(name)
    try:
        juju.deploy(CHARM, APP, num_units=2)
        juju.deploy(CHARMS / "redis-client", CLIENT)
        juju.integrate(APP, CLIENT)
        juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))
        yield juju
    finally:
        juju.destroy_model(name, destroy_storage=True, force=True)


def units(juju: jubilant.Juju) -> dict[str, jubilant.statustypes.UnitStatus]:
    return juju.status().apps[APP].units


def leader(juju: jubilant.Juju) -> str:
    return next(name for name, unit in units(juju).items() if unit.leader)


def address(juju: jubilant.Juju, unit: str) -> str:
    return units(juju)[unit].public_address


def password(juju: jubilant.Juju) -> str:
    """The password every unit uses: the configured one, else the leader's generated one."""
    configured = juju.config(APP).get("password")
    return (
        configured or juju.exec("secret-get $(leader-get password-secret) password", unit=leader(juju)).stdout.strip()
    )


def client(juju: jubilant.Juju, unit: str, port: int | None = None, auth: str | None = None) -> redis.Redis:
    # The port Redis serves on, as the unit opened it (the config may hold a refused value).
    port = port or int(units(juju)[unit].open_ports[0].split("/")[0])
    # Without `auth`: the charm's admin user (the default user has only client-permissions).
    username, secret = (None, auth) if auth is not None else admin_login(juju)
    return redis.Redis(
        host=address(juju, unit),
        port=port,
        username=username,
        password=secret,
        socket_timeout=5,
        decode_responses=True,
    )


def run_id(juju: jubilant.Juju, unit: str) -> str:
    return client(juju, unit).info("server")["run_id"]


def all_ready(juju: jubilant.Juju) -> None:
    """Every unit active and every agent idle: the change has been applied everywhere."""
    juju.wait(lambda status: jubilant.all_active(status) and jubilant.all_agents_idle(status))
    for unit in units(juju).values():
        assert unit.workload_status.message.startswith("Ready (redis ")


def test_every_unit_is_active_only_after_an_authenticated_ping(juju: jubilant.Juju) -> None:
    status = juju.status()
    version = (
        subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split("v=")[1].split()[0]
    )
    assert status.apps[APP].version == version
    for name, unit in status.apps[APP].units.items():
        assert unit.workload_status.current == "active"
        assert unit.workload_status.message == f"Ready (redis {version})"
        assert client(juju, name).ping()
        assert unit.open_ports == ["6379/tcp"]


def test_the_generated_password_is_shared_and_required(juju: jubilant.Juju) -> None:
    generated = password(juju)
    assert len(generated) >= 32
    for name in units(juju):
        with pytest.raises(redis.AuthenticationError):
            client(juju, name, auth="").ping()
        assert client(juju, name, auth=generated).ping()


def test_redis_binds_the_ingress_address_with_protected_mode(juju: jubilant.Juju) -> None:
    for name in units(juju):
        conn = client(juju, name)
        assert conn.config_get("bind")["bind"].split() == [address(juju, name)]
        assert conn.config_get("protected-mode")["protected-mode"] == "yes"


def test_the_client_app_connected_with_what_it_was_given(juju: jubilant.Juju) -> None:
    message = juju.status().apps[CLIENT].units[f"{CLIENT}/0"].workload_status.message
    assert message.startswith("connected to ")
    assert message.split("connected to ")[1].split(":")[0] in {address(juju, name) for name in units(juju)}


def test_password_never_reaches_logs_status_or_world_readable_files(juju: jubilant.Juju) -> None:
    secret = password(juju)
    logs = model_dir(juju) / "logs"
    for log in logs.glob("*.log"):
        assert secret not in log.read_text(), log
    assert secret not in str(juju.status())
    for name in units(juju):
        # Everything the unit's machine wrote: its overlay's upper layer.
        written = model_dir(juju) / "units" / name.replace("/", "-") / "upper"
        assert written.is_dir()
        assert world_readable_files_holding(written, secret.encode()) == []
        modes = juju.exec(
            "stat -c '%a:%U:%G' /etc/redis/redis.conf /var/lib/juju/agents/unit-*/charm/.unit-state.db", unit=name
        ).stdout.split()
        assert modes == ["640:root:redis", "600:root:root"]


def test_no_process_runs_with_the_password_in_its_arguments(juju: jubilant.Juju) -> None:
    # A snapshot: redis-server, the client and any check must take it from files or the environment.
    for name in units(juju):
        found = juju.exec(
            "f=$(mktemp); secret-get $(leader-get password-secret) password | tr -d '\\n' > $f; "
            "test -s $f || echo no-password; grep -lsF -f $f /proc/[0-9]*/cmdline | wc -l; rm -f $f",
            unit=name,
        ).stdout.strip()
        assert found == "0"


def test_runtime_options_apply_live_without_restart(juju: jubilant.Juju) -> None:
    before = {name: run_id(juju, name) for name in units(juju)}
    juju.config(APP, {"log-level": "debug", "timeout": 30, "tcp-keepalive": 60})
    all_ready(juju)
    for name in units(juju):
        conn = client(juju, name)
        assert conn.config_get("loglevel")["loglevel"] == "debug"
        assert conn.config_get("timeout")["timeout"] == "30"
        assert conn.config_get("tcp-keepalive")["tcp-keepalive"] == "60"
        assert run_id(juju, name) == before[name]
        conf = juju.exec("grep -E '^(loglevel|timeout|tcp-keepalive) ' /etc/redis/redis.conf", unit=name).stdout
        assert conf.split() == ["timeout", "30", "tcp-keepalive", "60", "loglevel", "debug"]
    juju.config(APP, reset=["log-level", "timeout", "tcp-keepalive"])
    all_ready(juju)


def test_a_hook_that_changes_nothing_restarts_nothing(juju: jubilant.Juju) -> None:
    before = {name: run_id(juju, name) for name in units(juju)}
    juju.config(APP, {"nagios_context": "unchanged-redis"})
    all_ready(juju)
    assert {name: run_id(juju, name) for name in units(juju)} == before
    juju.config(APP, reset=["nagios_context"])
    all_ready(juju)


def client_view(juju: jubilant.Juju) -> dict[str, dict[str, str]]:
    """What the client unit received from each Redis unit over the relation."""
    info = juju.show_unit(f"{CLIENT}/0")
    relation = next(r for r in info.relation_info if r.endpoint == "redis")
    return {unit: dict(data.data) for unit, data in relation.related_units.items()}


def test_password_change_is_live_and_leaves_the_clients_own_password(juju: jubilant.Juju) -> None:
    name = leader(juju)
    before = run_id(juju, name)
    generated = password(juju)
    own = {data["password"] for data in client_view(juju).values()}
    assert len(own) == 1 and generated not in own  # the client application's own password
    juju.config(APP, {"password": "Configured-Pw-1"})
    try:
        all_ready(juju)
        assert client(juju, name, auth="Configured-Pw-1").ping()
        # The generated password stays accepted for password-grace-period (test_rotation.py retires one).
        assert client(juju, name, auth=generated).ping()
        assert run_id(juju, name) == before
        assert {data["password"] for data in client_view(juju).values()} == own
        assert all(client(juju, unit, auth=own.copy().pop()).ping() for unit in units(juju))
    finally:
        juju.config(APP, reset=["password"])
    all_ready(juju)
    assert password(juju) == generated
    assert client(juju, name, auth=generated).ping()
    assert {data["password"] for data in client_view(juju).values()} == own


def test_port_change_moves_the_port_and_tells_the_client(juju: jubilant.Juju) -> None:
    name = leader(juju)
    before = run_id(juju, name)
    juju.config(APP, {"port": 6390})
    all_ready(juju)
    status = juju.status()
    assert status.apps[APP].units[name].open_ports == ["6390/tcp"]
    assert client(juju, name, port=6390).ping()
    assert run_id(juju, name) == before
    message = status.apps[CLIENT].units[f"{CLIENT}/0"].workload_status.message
    assert message.endswith(":6390")
    juju.config(APP, reset=["port"])
    all_ready(juju)


def test_databases_restarts_once_and_keeps_the_data(juju: jubilant.Juju) -> None:
    name = leader(juju)
    client(juju, name).set("kept-across-restart", "yes")
    before = run_id(juju, name)
    juju.config(APP, {"databases": 32})
    all_ready(juju)
    conn = client(juju, name)
    assert conn.config_get("databases")["databases"] == "32"
    assert run_id(juju, name) != before
    assert conn.get("kept-across-restart") == "yes"
    juju.config(APP, reset=["databases"])
    all_ready(juju)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("port", 0, "invalid port: must be a whole number from 1024 to 65535"),
        ("port", 80, "invalid port: must be a whole number from 1024 to 65535"),
        ("port", 70000, "invalid port: must be a whole number from 1024 to 65535"),
        ("timeout", -1, "invalid timeout: must be a whole number from 0 to"),
        ("tcp-keepalive", -1, "invalid tcp-keepalive: must be a whole number from 0 to"),
        ("databases", 0, "invalid databases: must be a whole number from 1 to"),
        ("log-level", "loud", "invalid log-level: must be one of debug, verbose, notice, warning"),
        ("install-source", "tarball", "invalid install-source: must be one of apt, snap"),
        ("password", "has space", "invalid password: must be 12 to 512 printable characters"),
        ("password", "new\nline", "invalid password: must be text without control characters"),
        ("cluster-enabled", True, "invalid cluster-enabled: can only be set at deploy time"),
        ("snap_proxy", "proxy:3128", "invalid snap_proxy: must be an http:// or https:// address"),
    ],
)
def test_bad_input_blocks_and_redis_keeps_serving(
    juju: jubilant.Juju, option: str, value: object, message: str
) -> None:
    name = leader(juju)
    secret = password(juju)
    before_id, before_conf = run_id(juju, name), juju.exec("cat /etc/redis/redis.conf", unit=name).stdout
    juju.config(APP, {option: value})
    try:
        juju.wait(lambda status: jubilant.all_blocked(status, APP))
        for unit in units(juju).values():
            assert unit.workload_status.message.startswith(message)
        assert client(juju, name, auth=secret).ping()
        assert client(juju, name, auth=secret).info("server")["run_id"] == before_id
        assert juju.exec("cat /etc/redis/redis.conf", unit=name).stdout == before_conf
    finally:
        juju.config(APP, reset=[option])
    all_ready(juju)


def test_update_status_reports_a_stopped_redis(juju: jubilant.Juju) -> None:
    name = leader(juju)
    juju.exec("systemctl stop redis-server", unit=name)
    # As on a real controller: `juju exec` runs in the charm directory with the hook tools.
    juju.exec("hooks/update-status", unit=name)
    status = units(juju)[name].workload_status
    assert status.current == "blocked"
    assert status.message.startswith("Redis is not running")
    juju.exec("systemctl start redis-server", unit=name)
    juju.config(APP, {"log-level": "verbose"})
    all_ready(juju)
    juju.config(APP, reset=["log-level"])
    all_ready(juju)


def test_host_tuning_is_persisted_and_refusal_is_logged_once(juju: jubilant.Juju) -> None:
    name = leader(juju)
    sysctl = juju.exec("cat /etc/sysctl.d/60-redis-charm.conf", unit=name).stdout
    assert "vm.overcommit_memory = 1" in sysctl
    assert "net.core.somaxconn" in sysctl
    # The local model's machines, like LXD containers, refuse kernel settings: one line says so.
    log = (model_dir(juju) / "logs" / f"unit-{name.replace('/', '-')}.log").read_text()
    assert log.count("Host tuning not applied here") == 1


def test_upgrade_keeps_data_and_configuration(juju: jubilant.Juju) -> None:
    name = leader(juju)
    client(juju, name).set("kept-across-upgrade", "yes")
    generated, before = password(juju), run_id(juju, name)
    conf_before = juju.exec("cat /etc/redis/redis.conf", unit=name).stdout
    juju.refresh(APP, path=CHARM)
    all_ready(juju)
    assert client(juju, name, auth=generated).get("kept-across-upgrade") == "yes"
    # The same charm renders the same file: nothing to apply, so no restart either.
    assert juju.exec("cat /etc/redis/redis.conf", unit=name).stdout == conf_before
    assert run_id(juju, name) == before


def test_a_port_redis_cannot_take_is_refused_live_and_nothing_changes(juju: jubilant.Juju) -> None:
    name = leader(juju)
    before_id, before_conf = run_id(juju, name), juju.exec("cat /etc/redis/redis.conf", unit=name).stdout
    with socket.socket() as squatter:
        squatter.bind((address(juju, name), 6401))
        squatter.listen()
        juju.config(APP, {"port": 6401})
        try:
            juju.wait(lambda status: status.apps[APP].units[name].workload_status.current == "blocked")
            status = units(juju)[name].workload_status
            assert status.current == "blocked"
            assert status.message.startswith("Redis refused port: ")
            assert status.message.endswith("it keeps its configuration")
            assert run_id(juju, name) == before_id
            assert juju.exec("cat /etc/redis/redis.conf", unit=name).stdout == before_conf
            assert units(juju)[name].open_ports == ["6379/tcp"]
        finally:
            juju.config(APP, reset=["port"])
    all_ready(juju)


def snap_calls(juju: jubilant.Juju, unit: str) -> list[list[str]]:
    """What the unit asked of snapd, as the local model's snap stand-in recorded it."""
    record = juju.exec("cat /var/lib/localjuju/snap-calls.jsonl 2>/dev/null || true", unit=unit).stdout
    return [json.loads(line)["argv"] for line in record.splitlines()]


def test_snap_install_configures_snapd_through_the_stand_in(juju: jubilant.Juju) -> None:
    name = leader(juju)
    juju.config(APP, {"install-source": "snap", "snap_proxy": "http://proxy.invalid:3128", "snapd_refresh": "max"})
    try:
        juju.wait(lambda status: jubilant.all_agents_idle(status, APP))
        calls = snap_calls(juju, name)
        assert ["snap", "set", "system", "proxy.http=http://proxy.invalid:3128"] in calls
        assert ["snap", "set", "system", "proxy.https=http://proxy.invalid:3128"] in calls
        assert ["snap", "set", "system", "refresh.timer=fri5,23:00-01:00"] in calls
        assert ["snap", "install", "redis", "--channel=latest/stable"] in calls
        # The stand-in installs no Redis: the snap's service cannot start, so the unit says so
        # and the Redis from apt is started again rather than leaving the unit without one.
        status = units(juju)[name].workload_status
        assert status.current == "blocked"
        assert status.message.endswith("; the previous Redis keeps serving")
        assert client(juju, name).ping()
    finally:
        juju.config(APP, reset=["install-source", "snap_proxy", "snapd_refresh"])
    all_ready(juju)
    assert client(juju, name).ping()


def test_a_snap_store_proxy_is_trusted_then_used(juju: jubilant.Juju) -> None:
    name = leader(juju)
    requested: list[str] = []
    assertions = "type: account-key\nauthority-id: canonical\n\ntype: store\nstore: TESTSTORE1\nurl: x\n"

    class StoreProxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = assertions.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), StoreProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = len(snap_calls(juju, name))
    juju.config(APP, {"install-source": "snap", "snap_proxy_url": f"http://127.0.0.1:{server.server_port}"})
    try:
        # The stand-in installs no Redis, so the unit ends blocked with apt's Redis serving (as above).
        juju.wait(
            lambda status: (
                jubilant.all_agents_idle(status, APP)
                and status.apps[APP].units[name].workload_status.message.endswith("; the previous Redis keeps serving")
            )
        )
        calls = snap_calls(juju, name)[before:]
        assert requested == ["/v2/auth/store/assertions"] * len(units(juju))  # once by each unit
        acked = next(i for i, call in enumerate(calls) if call[:2] == ["snap", "ack"])
        stored = calls.index(["snap", "set", "system", "proxy.store=TESTSTORE1"])
        # `snap install`, or `snap refresh` when an earlier test left the snap installed.
        installed = next(i for i, call in enumerate(calls) if call[1] in ("install", "refresh"))
        assert acked < stored < installed, calls
    finally:
        server.shutdown()
        juju.config(APP, reset=["install-source", "snap_proxy_url"])
    all_ready(juju)


def test_config_file_is_not_world_readable(juju: jubilant.Juju) -> None:
    mode = juju.exec("stat -c '%a' /etc/redis/redis.conf", unit=leader(juju)).stdout.strip()
    assert not int(mode, 8) & stat.S_IROTH


def test_a_new_leader_keeps_the_password_and_new_units_use_it(juju: jubilant.Juju) -> None:
    generated = password(juju)
    old_leader = leader(juju)
    juju.remove_unit(old_leader)
    juju.wait(
        lambda status: (
            old_leader not in status.apps[APP].units
            and jubilant.all_active(status)
            and jubilant.all_agents_idle(status)
        )
    )
    assert leader(juju) != old_leader
    assert password(juju) == generated
    juju.add_unit(APP)
    all_ready(juju)
    assert len(units(juju)) == 2
    for name in units(juju):
        assert client(juju, name, auth=generated).ping()
