#!/usr/bin/python3
"""redis-client: connect to the related Redis with redis-cli and report it in the status.

When the Redis units say `cluster: "true"`, it is a cluster client (`redis-cli -c`,
following MOVED/ASK redirections) and names the nodes the application bag lists.

The password goes to redis-cli through REDISCLI_AUTH, never on its command line or in logs.
Relation values may be raw strings or JSON-quoted strings (as reactive charms publish them).
When Redis says `tls: "true"`, it connects with `redis-cli --tls`, verifying the server against
the CA published in `tls-ca`.
"""

import json
import os
import shutil
import subprocess
import sys
import time

RETRY_SECONDS = 5.0
CA_FILE = "redis-ca.pem"


def tool(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def status(state: str, message: str) -> None:
    tool("status-set", state, message)


def decode(value: object) -> str:
    """Accept raw and JSON-quoted strings (and numbers)."""
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return str(decoded) if isinstance(decoded, str | int) else value


def endpoint() -> dict[str, str] | None:
    """Return host, port and password of the first related unit that published them."""
    for rid in json.loads(tool("relation-ids", "redis", "--format=json")):
        for unit in json.loads(tool("relation-list", "-r", rid, "--format=json")):
            data = json.loads(tool("relation-get", "-r", rid, "--format=json", "-", unit)) or {}
            host = decode(data.get("host") or data.get("hostname"))
            port = decode(data.get("port"))
            if host and port:
                cluster = decode(data.get("cluster")) in ("true", "True")
                nodes = cluster_nodes(rid, unit) if cluster else ""
                ca = str(data.get("tls-ca") or "") if decode(data.get("tls")) in ("true", "True") else ""
                return {"host": host, "port": port, "password": decode(data.get("password")), "nodes": nodes, "ca": ca}
    return None


def cluster_nodes(rid: str, unit: str) -> str:
    """The comma-separated host:port list the Redis leader published in the application bag."""
    data = json.loads(tool("relation-get", "-r", rid, "--app", "--format=json", "-", unit)) or {}
    return decode(data.get("nodes")) or "?"


def check(target: dict[str, str], key: str) -> str | None:
    """SET and GET key; return None on success, else a short reason."""
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    if target["password"]:
        env["REDISCLI_AUTH"] = target["password"]
    base = ["redis-cli", "-h", target["host"], "-p", target["port"], "--no-auth-warning"]
    if target["ca"]:
        # TLS, the server verified against the CA Redis published.
        with open(CA_FILE, "w") as handle:
            handle.write(target["ca"] + "\n")
        base += ["--tls", "--cacert", CA_FILE]
    if target["nodes"]:
        base.append("-c")
    value = os.environ["JUJU_UNIT_NAME"]
    deadline = time.monotonic() + RETRY_SECONDS
    reason = "not tried"
    while time.monotonic() < deadline:
        done = subprocess.run([*base, "SET", key, value], capture_output=True, text=True, env=env, check=False)
        got = subprocess.run([*base, "GET", key], capture_output=True, text=True, env=env, check=False)
        if done.stdout.strip() == "OK" and got.stdout.strip() == value:
            return None
        reason = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no answer"]
        reason = reason[0][:80]
        time.sleep(0.5)
    return reason


def main() -> int:
    hook = os.environ.get("JUJU_HOOK_NAME") or os.path.basename(sys.argv[0])
    if hook == "install" and shutil.which("redis-cli") is None:
        subprocess.run(["apt-get", "install", "-y", "redis-tools"], check=False)
    if shutil.which("redis-cli") is None:
        status("blocked", "redis-cli is not installed (apt-get install redis-tools failed)")
        return 0
    if not json.loads(tool("relation-ids", "redis", "--format=json")) or hook == "redis-relation-broken":
        status("blocked", "needs a redis relation")
        return 0
    target = endpoint()
    if target is None:
        status("waiting", "waiting for redis host and port")
        return 0
    key = json.loads(tool("config-get", "key", "--format=json"))
    reason = check(target, key)
    where = f"{target['host']}:{target['port']}"
    if reason is None and target["nodes"]:
        status("active", f"connected to the cluster at {where} (nodes {target['nodes']})")
    elif reason is None:
        status("active", f"connected to {where}{' with TLS' if target['ca'] else ''}")
    else:
        status("waiting", f"cannot reach {where}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
