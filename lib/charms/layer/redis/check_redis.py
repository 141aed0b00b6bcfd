#!/usr/bin/env python3
"""Nagios plugin: is this unit's Redis answering, with the right password, and not short of memory?

In cluster mode it is CRITICAL as well when the node's cluster_state is not ok
or some of the 16384 slots are not served.

Installed by the redis charm as /usr/local/lib/nagios/plugins/check_redis_charm
and run by NRPE. It reads where Redis listens and its password from a JSON file
(root-owned, readable by the nagios group) so the password never appears in a
command line. With `ca` (the PEM of the CA) in that file, it connects with
TLS and verifies the server's certificate. Standard library only: it runs with the machine's python3.

Exit codes follow the Nagios plugin API: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
from dataclasses import dataclass

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
SLOTS = 16384
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
DEFAULT_CONFIG = "/etc/nagios/check_redis_charm.json"


class RedisReplyError(Exception):
    """Redis answered with an error reply."""


@dataclass(frozen=True)
class Verdict:
    code: int
    message: str


def encode(*args: str) -> bytes:
    """A command in the Redis protocol (RESP) as an array of bulk strings."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_reply(stream) -> str | int | list | None:
    """One RESP2 reply (simple string, error, integer, bulk string or array) from a binary file object."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2].decode()
    if kind == b"+":
        return body
    if kind == b"-":
        raise RedisReplyError(body)
    if kind == b":":
        return int(body)
    if kind == b"$":
        length = int(body)
        return None if length < 0 else stream.read(length + 2)[:-2].decode()
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [read_reply(stream) for _ in range(count)]
    raise ConnectionError(f"unexpected reply type {kind!r}")


def parse_info(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def judge(info: dict[str, str], warn: float, crit: float) -> Verdict:
    """The verdict on a server that answered PING, from its INFO."""
    version, role = info.get("redis_version", "?"), info.get("role", "?")
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    summary = f"redis {version} role={role} used_memory={used}"
    if limit > 0:
        ratio = used / limit
        summary += f" maxmemory={limit} ({ratio:.0%})"
        if ratio >= crit:
            return Verdict(CRITICAL, summary)
        if ratio >= warn:
            return Verdict(WARNING, summary)
    return Verdict(OK, summary)


def judge_cluster(cluster_info: dict[str, str], verdict: Verdict) -> Verdict:
    """A cluster node's verdict: CRITICAL unless its cluster is ok with every slot served."""
    state, served = cluster_info.get("cluster_state", "?"), cluster_info.get("cluster_slots_ok", "0")
    summary = f"{verdict.message} cluster_state={state} slots_ok={served}/{SLOTS}"
    if state != "ok" or served != str(SLOTS):
        return Verdict(CRITICAL, summary)
    return Verdict(verdict.code, summary)


def connect(host: str, port: int, timeout: float, ca: str = "") -> socket.socket:
    """A connection to Redis: TLS verified against `ca` (PEM) when given, else plain TCP."""
    connection = socket.create_connection((host, port), timeout=timeout)
    if not ca:
        return connection
    try:
        return ssl.create_default_context(cadata=ca).wrap_socket(connection, server_hostname=host)
    except BaseException:
        connection.close()
        raise


def check(
    host: str, port: int, password: str, warn: float, crit: float, timeout: float, ca: str = "", username: str = ""
) -> Verdict:
    try:
        with connect(host, port, timeout, ca) as connection:
            stream = connection.makefile("rwb")
            if password:
                stream.write(encode("AUTH", *([username] if username else []), password))
                stream.flush()
                read_reply(stream)
            stream.write(encode("PING") + encode("INFO"))
            stream.flush()
            if read_reply(stream) != "PONG":
                return Verdict(CRITICAL, "Redis did not answer PING with PONG")
            info = parse_info(str(read_reply(stream)))
            verdict = judge(info, warn, crit)
            if info.get("cluster_enabled") != "1":
                return verdict
            stream.write(encode("CLUSTER", "INFO"))
            stream.flush()
            return judge_cluster(parse_info(str(read_reply(stream))), verdict)
    except RedisReplyError as error:
        return Verdict(CRITICAL, f"Redis refused: {str(error).split(' ')[0]}")
    except (OSError, ConnectionError) as error:
        return Verdict(CRITICAL, f"cannot reach Redis at {host}:{port}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="JSON file with host, port, password")
    parser.add_argument("--warn", type=float, default=0.8, help="used/maxmemory ratio for WARNING")
    parser.add_argument("--crit", type=float, default=0.9, help="used/maxmemory ratio for CRITICAL")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        with open(args.config) as handle:
            target = json.load(handle)
        verdict = check(
            target["host"],
            int(target["port"]),
            target.get("password", ""),
            args.warn,
            args.crit,
            args.timeout,
            target.get("ca", ""),
            target.get("username", ""),
        )
    except (OSError, ValueError, KeyError) as error:
        verdict = Verdict(UNKNOWN, f"cannot read {args.config}: {error}")
    print(f"REDIS {LABELS[verdict.code]}: {verdict.message}")
    return verdict.code


if __name__ == "__main__":
    sys.exit(main())
