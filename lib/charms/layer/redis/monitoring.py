"""Nagios checks over nrpe-external-master: the plugin, its NRPE command and the nagios export.

The subordinate nrpe charm runs whatever commands are registered under
/etc/nagios/nrpe.d and forwards the service definitions found under
/var/lib/nagios/export to the nagios charm.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from charms.layer.redis import service

PLUGIN = Path("/usr/local/lib/nagios/plugins/check_redis_charm")
PLUGIN_CONFIG = Path("/etc/nagios/check_redis_charm.json")
NRPE_DIR = Path("/etc/nagios/nrpe.d")
EXPORT_DIR = Path("/var/lib/nagios/export")
CHECK_NAME = "check_redis"
SHORTNAME = "redis"
NAGIOS_GROUP = "nagios"


@dataclass(frozen=True)
class Check:
    """The one Redis check of a unit, as Nagios will show it."""

    nagios_host: str
    servicegroups: str

    @property
    def command_line(self) -> str:
        return f"{PLUGIN} --config {PLUGIN_CONFIG}"


def nagios_host(context: str, unit_name: str) -> str:
    """The Nagios host name of a unit: `<context>-<app>-<n>`."""
    return f"{context}-{unit_name.replace('/', '-')}"


def make_check(context: str, servicegroups: str, unit_name: str) -> Check:
    return Check(nagios_host(context, unit_name), servicegroups or context)


def nrpe_command(check: Check) -> str:
    return f"# Written by the redis charm.\ncommand[{CHECK_NAME}]={check.command_line}\n"


def nagios_service(check: Check) -> str:
    return (
        "# Written by the redis charm.\n"
        "define service {\n"
        "    use                  active-service\n"
        f"    host_name            {check.nagios_host}\n"
        f"    service_description  {check.nagios_host} Redis answers PING with AUTH, memory below maxmemory\n"
        f"    check_command        check_nrpe!{CHECK_NAME}\n"
        f"    servicegroups        {check.servicegroups}\n"
        "}\n"
    )


def ensure_nagios_group(
    group_id: Callable[[str], int] = service.group_id, run: Callable[[list[str]], object] = service.run
) -> None:
    """Create the system group `nagios` unless it exists, so the check's config can belong to it now.

    The nrpe charm may install nagios-nrpe-server after this charm installed its
    check, and no hook of this charm need follow. The package's preinst adopts
    an existing system group (`adduser --system --group nagios` makes the user
    with that group as its own), so NRPE's checks can read the config at once.
    """
    if group_id(NAGIOS_GROUP) == 0:
        run(["groupadd", "--system", NAGIOS_GROUP])


def install(check: Check, host: str, port: int, password: str, ca: str = "", username: str = "") -> dict[str, str]:
    """Install the plugin, its config and the NRPE and export files; return {shortname: command}.

    With `ca` (PEM), the port speaks TLS: the check verifies the server against that CA.
    With `username`, the check logs in as that user (else with the password alone).
    """
    ensure_nagios_group()
    PLUGIN.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("check_redis.py"), PLUGIN)
    PLUGIN.chmod(0o755)
    user = {"username": username} if username else {}
    target = json.dumps({"host": host, "port": port, **user, "password": password, **({"ca": ca} if ca else {})})
    service.write_restricted(PLUGIN_CONFIG, target, NAGIOS_GROUP)
    NRPE_DIR.mkdir(parents=True, exist_ok=True)
    (NRPE_DIR / f"{CHECK_NAME}.cfg").write_text(nrpe_command(check))
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in EXPORT_DIR.glob(f"service__*_{CHECK_NAME}.cfg"):
        stale.unlink()  # a nagios_context change renames the host
    (EXPORT_DIR / f"service__{check.nagios_host}_{CHECK_NAME}.cfg").write_text(nagios_service(check))
    return {SHORTNAME: CHECK_NAME}


def remove() -> None:
    """Take the check away again (the nrpe charm left)."""
    for path in [PLUGIN_CONFIG, NRPE_DIR / f"{CHECK_NAME}.cfg", *EXPORT_DIR.glob(f"service__*_{CHECK_NAME}.cfg")]:
        path.unlink(missing_ok=True)
