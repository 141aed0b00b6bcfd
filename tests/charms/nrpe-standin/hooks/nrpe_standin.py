#!/usr/bin/env python3
"""Stand-in nrpe charm: run the NRPE commands the principal registered, as NRPE would.

Every hook (and the run-checks action) reads the `monitors` document the
principal published, finds each listed command in /etc/nagios/nrpe.d, runs its
command line as the unprivileged `nagios` user (as the NRPE daemon does; each
hook creates the user and group unless told not to, as the nagios-nrpe-server
package would; the install-packages action does it then) and records the results in /var/lib/nrpe-standin/results.json.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

NRPE_DIR = Path("/etc/nagios/nrpe.d")
NAGIOS = "nagios"
RESULTS = Path("/var/lib/nrpe-standin/results.json")


def tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def registered_commands() -> dict[str, str]:
    """{command name: command line} from every NRPE config file."""
    commands = {}
    for path in sorted(NRPE_DIR.glob("*.cfg")) if NRPE_DIR.exists() else []:
        for line in path.read_text().splitlines():
            match = re.match(r"^command\[([^\]]+)\]=(.*)$", line.strip())
            if match:
                commands[match.group(1)] = match.group(2)
    return commands


def monitored_commands() -> list[str]:
    """The NRPE command names the principal listed in `monitors` on every relation."""
    names = []
    for relation in json.loads(tool("relation-ids", "--format=json", "nrpe-external-master")):
        for unit in json.loads(tool("relation-list", "--format=json", "-r", relation)):
            document = json.loads(tool("relation-get", "--format=json", "-r", relation, "monitors", unit))
            if document:
                names.extend(yaml.safe_load(document)["monitors"]["remote"]["nrpe"].values())
    return sorted(set(names))


def ensure_nagios_user() -> None:
    """The user and group NRPE runs checks as, made as nagios-nrpe-server's preinst makes them.

    Like the package, it adopts a system group `nagios` that exists already.
    """
    if not has_nagios_user():
        command = ["adduser", "--system", "--group", "--home", "/var/lib/nagios", "--no-create-home", "--quiet", NAGIOS]
        subprocess.run(command, check=True)


def has_nagios_user() -> bool:
    try:
        pwd.getpwnam(NAGIOS)
    except KeyError:
        return False
    return True


def creates_nagios_user() -> bool:
    return os.environ.get("JUJU_ACTION_NAME") == "install-packages" or json.loads(
        tool("config-get", "--format=json", "create-nagios-user")
    )


def run_checks() -> dict[str, dict[str, object]]:
    commands = registered_commands()
    results = {}
    for name in monitored_commands():
        if name not in commands:
            results[name] = {"code": None, "output": "not registered in /etc/nagios/nrpe.d"}
            continue
        if not has_nagios_user():
            results[name] = {"code": None, "output": "no nagios user: NRPE is not installed yet"}
            continue
        done = subprocess.run(
            shlex.split(commands[name]),
            capture_output=True,
            text=True,
            check=False,
            user=NAGIOS,
            group=NAGIOS,
            extra_groups=[],  # root's supplementary groups must not leak into the check
        )
        results[name] = {"code": done.returncode, "output": done.stdout.strip(), "command": commands[name]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    if creates_nagios_user():
        ensure_nagios_user()
    if os.environ.get("JUJU_ACTION_NAME") == "install-packages":
        return
    results = run_checks()
    summary = " ".join(f"{name}={result['code']}" for name, result in results.items()) or "no checks"
    if os.environ.get("JUJU_ACTION_NAME"):
        subprocess.run(["action-set", f"results={json.dumps(results)}"], check=True)
    tool("status-set", "active", summary)


if __name__ == "__main__":
    sys.exit(main())
