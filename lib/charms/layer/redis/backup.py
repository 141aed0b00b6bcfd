"""Backups of this unit's Redis: take one, list them, restore one.

A backup is an RDB snapshot: BGSAVE works whatever `save` and `appendonly`
say, and an RDB file is what Redis loads fastest at start. Each backup is
three files in the backup directory, all 0600 and owned by the Redis user
(the directory is 0700):

    NAME.rdb          the snapshot
    NAME.rdb.sha256   its checksum, as `sha256sum -c` reads it
    NAME.json         its description (the `Backup` dataclass)

A restore stops Redis, swaps the snapshot in, starts Redis and checks the key
count; until that check passed the previous data files are kept aside, and
any failure puts them back. Redis is reached over its unix socket with the
password of the redis.conf it runs with: no secret in any process's arguments
or in what an action reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from charms.layer.redis import admin, conf, run_action, service
from charms.layer.redis.cluster.nodes import SlotRange, myself, parse_cluster_nodes, ranges_of
from charms.layer.redis.conf import Layout
from charms.layer.redis.run_action import ActionRefused

if TYPE_CHECKING:
    import redis

Say = Callable[[str], None]
DEFAULT_DIR = Path("/var/backups/redis")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MANIFEST_VERSION = 1
# The longest a backup waits for its snapshot, and a restore for Redis to load one.
SNAPSHOT_WAIT = 600.0
LOAD_WAIT = 300.0
# How long a restore on a cluster node waits for the cluster to see the node again.
CLUSTER_WAIT = 60.0
PROGRESS_EVERY = 2.0
CHUNK = 1 << 20
# Where the service's data files wait, during a restore, until the restored data is verified.
ASIDE = ".pre-restore"
# In ASIDE: the data files that did not exist before the restore.
ABSENT = ".absent"


class BackupError(ActionRefused):
    """A backup or restore that cannot be done: one line saying what and why."""


@dataclass(frozen=True)
class Keyspace:
    """How many keys a dataset holds, and how many of them have an expiry (they may be gone at load)."""

    keys: int
    expires: int

    def admits(self, loaded: int) -> bool:
        """Whether `loaded` keys after a restore are this dataset: keys with an expiry may have expired."""
        return self.keys - self.expires <= loaded <= self.keys


@dataclass(frozen=True)
class Backup:
    """One backup: where its snapshot is, what it holds, and which node it was taken on."""

    name: str
    path: Path
    size: int
    sha256: str
    keys: int
    expires: int
    taken: datetime
    unit: str
    # Cluster mode: the node the snapshot was taken on and the slots it served then.
    node_id: str = ""
    slots: tuple[SlotRange, ...] = field(default=())

    @property
    def keyspace(self) -> Keyspace:
        return Keyspace(self.keys, self.expires)

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(f"{self.name}.json")


@dataclass(frozen=True)
class NodeIdentity:
    """A cluster node as a restore checks it: its id, the slots it serves, the master it replicates."""

    node_id: str
    slots: tuple[SlotRange, ...]
    replica_of: str = ""


# --- names, manifests, checksums (pure) ----------------------------------------------------------


def backup_name(unit: str, taken: datetime) -> str:
    """redis-0-20261126-142000 for unit redis/0 at that UTC time.

    Sortable, safe as a file name, and a valid key of Juju's action results
    (lowercase letters, digits and hyphens), so list-backups can key by it.
    """
    return f"{unit.replace('/', '-')}-{taken.astimezone(timezone.utc):%Y%m%d-%H%M%S}"


def check_name(name: str) -> str:
    """The name, if it can only name a backup in the directory (no path, no hidden file)."""
    if not NAME_PATTERN.match(name):
        raise BackupError(
            f"name: {name[:40]!r} is not a backup name (letters, digits, '.', '_', '-'; see list-backups)"
        )
    return name


def slots_text(slots: tuple[SlotRange, ...]) -> str:
    """0-5460,10923 for the ranges; empty when none."""
    return ",".join(str(r.start) if r.start == r.end else f"{r.start}-{r.end}" for r in slots)


def parse_slots(text: str) -> tuple[SlotRange, ...]:
    ranges = []
    for part in filter(None, text.split(",")):
        start, _, end = part.partition("-")
        ranges.append(SlotRange(int(start), int(end or start)))
    return ranges_of(slot for r in ranges for slot in r.slots())


def manifest_text(backup: Backup) -> str:
    fields = asdict(backup)
    fields.update(
        version=MANIFEST_VERSION,
        path=backup.path.name,
        taken=backup.taken.astimezone(timezone.utc).isoformat(),
        slots=slots_text(backup.slots),
    )
    return json.dumps(fields, indent=1, sort_keys=True) + "\n"


def parse_manifest(text: str, directory: Path) -> Backup:
    """The backup a manifest describes; BackupError saying what does not read."""
    try:
        fields = json.loads(text)
        if fields.get("version") != MANIFEST_VERSION:
            raise ValueError(f"version {fields.get('version')!r} is not {MANIFEST_VERSION}")
        name, file_name = check_name(str(fields["name"])), str(fields["path"])
        if file_name != f"{name}.rdb":
            raise ValueError(f"its snapshot {file_name[:40]!r} is not {name}.rdb")
        digest = str(fields["sha256"])
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("its sha256 is not 64 hex digits")
        taken = datetime.fromisoformat(str(fields["taken"]))
        if taken.tzinfo is None:
            raise ValueError("its time has no time zone")
        return Backup(
            name=name,
            path=directory / file_name,
            size=_count(fields, "size"),
            sha256=digest,
            keys=_count(fields, "keys"),
            expires=_count(fields, "expires"),
            taken=taken,
            unit=str(fields["unit"]),
            node_id=str(fields.get("node_id", "")),
            slots=parse_slots(str(fields.get("slots", ""))),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BackupError(f"the backup's description does not read: {error}") from None


def _count(fields: Mapping[str, Any], name: str) -> int:
    value = fields[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} {value!r} is not a count")
    return value


def checksum_line(digest: str, file_name: str) -> str:
    return f"{digest}  {file_name}\n"


def parse_checksum(text: str, file_name: str) -> str:
    """The digest a `sha256sum` line gives for `file_name`; BackupError when it gives none."""
    for line in text.splitlines():
        digest, _, named = line.strip().partition(" ")
        if named.lstrip(" *") == file_name and re.fullmatch(r"[0-9a-f]{64}", digest):
            return digest
    raise BackupError(f"{file_name}.sha256 holds no checksum for {file_name}")


def checksum_problem(backup: Backup, recorded: str, actual: str, size: int) -> str:
    """Why a snapshot is not the one backed up (empty when it is)."""
    if recorded != backup.sha256:
        return f"{backup.checksum_path.name} and {backup.manifest_path.name} name different checksums"
    if size != backup.size:
        return f"{backup.path.name} is {size} bytes, {backup.size} were backed up"
    if actual != recorded:
        return f"{backup.path.name} does not match its sha256 (corrupted)"
    return ""


def restore_refusal(backup: Backup, node: NodeIdentity | None) -> str:
    """Why this backup must not be restored on this node (empty when it may).

    A cluster node serves only its slots: a snapshot from another node, or
    from before its slots changed, would load keys it does not serve.
    """
    if node is None:
        return ""
    if node.replica_of:
        return (
            f"this unit's node {node.node_id[:8]} is a replica of {node.replica_of[:8]}, which would overwrite "
            "what is restored: restore on the master's unit"
        )
    if not backup.node_id:
        return f"{backup.name} was not taken in cluster mode; this unit is cluster node {node.node_id[:8]}"
    if backup.node_id != node.node_id:
        return (
            f"{backup.name} was taken on cluster node {backup.node_id[:8]}, this unit is {node.node_id[:8]}: "
            "restore a backup taken on this unit"
        )
    if backup.slots != node.slots:
        return (
            f"{backup.name} was taken when this node served slots {slots_text(backup.slots) or 'none'}, "
            f"it now serves {slots_text(node.slots) or 'none'}: restore a backup taken since the slots moved"
        )
    return ""


def keyspace_of(info: Mapping[str, Any]) -> Keyspace:
    """Keys and expiring keys over every database, from INFO keyspace (parsed or raw fields)."""
    keys = expires = 0
    for name, value in info.items():
        if not re.fullmatch(r"db\d+", str(name)):
            continue
        fields = value if isinstance(value, Mapping) else dict(p.split("=", 1) for p in str(value).split(","))
        keys += int(fields.get("keys", 0))
        expires += int(fields.get("expires", 0))
    return Keyspace(keys, expires)


def without_appendonly(config_text: str) -> str:
    """The redis.conf with the append-only file off: Redis then loads the snapshot at start."""
    lines = [
        "appendonly no" if line.strip().lower().startswith("appendonly ") else line for line in config_text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def describe(backup: Backup) -> dict[str, str]:
    """A backup as an action reports it."""
    described = {
        "name": backup.name,
        "path": str(backup.path),
        "size": str(backup.size),
        "keys": str(backup.keys),
        "sha256": backup.sha256,
        "time": backup.taken.astimezone(timezone.utc).isoformat(),
        "unit": backup.unit,
    }
    if backup.node_id:
        described.update({"node-id": backup.node_id, "slots": slots_text(backup.slots) or "none"})
    return described


# --- files ---------------------------------------------------------------------------------------


def owner_ids(layout: Layout) -> tuple[int, int]:
    """The user and group that own Redis's data (root for a snap)."""
    try:
        entry = pwd.getpwnam("redis") if layout.group == "redis" else None
    except KeyError:
        entry = None
    return (entry.pw_uid, entry.pw_gid) if entry else (0, 0)


def chosen_directory(given: object, configured: Path) -> Path:
    """The action's `dir` parameter when given, else the backup-dir option; either must be absolute."""
    option, value = ("dir", str(given)) if given else ("backup-dir", str(configured))
    if not value.startswith("/"):
        raise BackupError(f"{option}: {value[:80]!r} is not an absolute path; give a directory such as {DEFAULT_DIR}")
    return Path(value)


def prepare_directory(directory: Path, owner: tuple[int, int]) -> None:
    """Create the backup directory 0700; refuse one that others can read."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
        os.chown(directory, *owner)
        os.chmod(directory, 0o700)
    found = directory.stat()
    if not stat.S_ISDIR(found.st_mode):
        raise BackupError(f"backup directory {directory} is not a directory")
    if stat.S_IMODE(found.st_mode) & 0o077:
        raise BackupError(
            f"backup directory {directory} is open to others (mode {stat.S_IMODE(found.st_mode):o}); "
            "use a new directory or one with mode 700"
        )


def write_private(path: Path, data: bytes, owner: tuple[int, int]) -> None:
    """Write a file atomically, 0600 and owned by `owner`."""
    temporary = path.with_name(f".{path.name}.partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchown(descriptor, *owner)
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


def copy_hashed(reader: BinaryIO, target: Path, owner: tuple[int, int]) -> tuple[int, str]:
    """Copy an open file to `target` atomically (0600, `owner`); its size and sha256."""
    temporary = target.with_name(f".{target.name}.partial")
    digest, size = hashlib.sha256(), 0
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as writer:
            os.fchown(writer.fileno(), *owner)
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def file_sha256(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as reader:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def load(directory: Path, name: str) -> Backup:
    """The backup called `name` in `directory`, read from its description."""
    manifest = directory / f"{check_name(name)}.json"
    try:
        text = manifest.read_text()
    except FileNotFoundError:
        raise BackupError(f"name: no backup {name!r} in {directory} (see list-backups)") from None
    return parse_manifest(text, directory)


def listed(directory: Path) -> tuple[list[Backup], list[str]]:
    """Every backup in the directory, oldest first, and the descriptions that do not read."""
    backups, unreadable = [], []
    for manifest in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            backups.append(parse_manifest(manifest.read_text(), directory))
        except (BackupError, OSError) as error:
            unreadable.append(f"{manifest.name}: {error}")
    return sorted(backups, key=lambda backup: (backup.taken, backup.name)), unreadable


def verify(backup: Backup) -> None:
    """The snapshot is the one backed up: its .sha256, its description and its content agree."""
    try:
        recorded = parse_checksum(backup.checksum_path.read_text(), backup.path.name)
        size, actual = file_sha256(backup.path)
    except FileNotFoundError as error:
        raise BackupError(f"{backup.name} is incomplete: {Path(str(error.filename)).name} is missing") from None
    problem = checksum_problem(backup, recorded, actual, size)
    if problem:
        raise BackupError(f"refused to restore {backup.name}: {problem}; Redis keeps its data")


# --- talking to Redis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a BGSAVE saved: the dataset's size at the fork, and this node's identity in cluster mode."""

    keyspace: Keyspace
    node: NodeIdentity | None


def node_identity(nodes_text: str) -> NodeIdentity:
    me = myself(parse_cluster_nodes(nodes_text))
    return NodeIdentity(me.node_id, ranges_of(me.slot_set()), me.master_id if me.is_replica else "")


def in_cluster_mode(client: redis.Redis) -> bool:
    return str(client.info("cluster").get("cluster_enabled")) == "1"


def cluster_node(client: redis.Redis) -> NodeIdentity | None:
    """This node's id and slots in cluster mode, None outside it."""
    if not in_cluster_mode(client):
        return None
    return node_identity(str(client.execute_command("CLUSTER", "NODES")))


def saves_counted(client: redis.Redis) -> int | None:
    """How many snapshots Redis took since it started; None on Redis 6, which does not count them."""
    counted = admin.persistence(client).get("rdb_saves")
    return None if counted is None else int(counted)


def start_snapshot(client: redis.Redis, wait: float) -> tuple[Snapshot, int | None]:
    """BGSAVE, with the key count and the node's slots taken at the same instant; the saves counted before."""
    admin.wait_idle(client, wait)
    before = saves_counted(client)
    cluster = in_cluster_mode(client)
    pipe = client.pipeline(transaction=True)  # MULTI: nothing changes between the count and the fork
    pipe.info("keyspace")
    if cluster:
        pipe.execute_command("CLUSTER", "NODES")
    pipe.bgsave()
    replies = pipe.execute()
    if before is None and "scheduled" in str(replies[-1]):
        # Redis 6 cannot tell when a postponed snapshot ended.
        raise BackupError("Redis is rewriting its append-only file; run backup again once it is done")
    node = node_identity(str(replies[1])) if cluster else None
    return Snapshot(keyspace_of(replies[0]), node), before


def wait_for_snapshot(client: redis.Redis, before: int | None, wait: float, say: Say) -> None:
    """Until the BGSAVE that followed `before` saves ended; progress lines meanwhile.

    BGSAVE forks before it answers, so on Redis 6 (no count of saves) the
    first poll that finds no snapshot in progress finds ours ended.
    """
    started = time.monotonic()
    last = started
    while True:
        info = admin.persistence(client)
        if info.get("rdb_bgsave_in_progress") == "0":
            if info.get("rdb_last_bgsave_status") != "ok":
                raise BackupError("Redis could not write the snapshot (see its log); nothing was backed up")
            if before is None or int(info.get("rdb_saves", "0")) > before:
                return
        now = time.monotonic()
        if now - started > wait:
            raise BackupError(f"the snapshot did not finish within {wait:g} s; nothing was backed up")
        if now - last >= PROGRESS_EVERY:
            last = now
            done, total = info.get("current_save_keys_processed", "0"), info.get("current_save_keys_total", "0")
            say(f"snapshot in progress: {done} of {total} keys written, {now - started:.0f} s")
        time.sleep(0.1)


def saves_done(client: redis.Redis) -> tuple[str, str, str]:
    info = admin.persistence(client)
    return info.get("rdb_saves", ""), info.get("rdb_last_save_time", ""), info.get("rdb_bgsave_in_progress", "")


@dataclass(frozen=True)
class Restored:
    """What a restore loaded, and the node's cluster_state afterwards (empty outside cluster mode)."""

    keyspace: Keyspace
    cluster_state: str = ""


@dataclass(frozen=True)
class Unit:
    """What an action needs to know about this unit's Redis, gathered at the edge."""

    name: str
    layout: Layout
    password: admin.Credential = field(repr=False)
    backup_dir: Path


def take(unit: Unit, directory: Path, say: Say, taken: datetime | None = None) -> Backup:
    """Snapshot Redis and copy the snapshot to `directory` with its checksum and description."""
    owner = owner_ids(unit.layout)
    prepare_directory(directory, owner)
    when = (taken or datetime.now(timezone.utc)).replace(microsecond=0)
    name = backup_name(unit.name, when)
    if (directory / f"{name}.json").exists():
        raise BackupError(f"a backup named {name} exists already; try again in a second")
    with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
        data_file = data_files(client).snapshot
        say("asking Redis for a snapshot (BGSAVE)")
        snapshot, before = start_snapshot(client, SNAPSHOT_WAIT)
        wait_for_snapshot(client, before, SNAPSHOT_WAIT, say)
        saved = saves_done(client)
        with data_file.open("rb") as source:
            # Another snapshot ending after ours, before this open, would have replaced the file.
            now = saves_done(client)
            if now != saved or (before is not None and now[0] != str(before + 1)):
                raise BackupError("another snapshot replaced this one before it was copied; try again")
            say(f"copying the snapshot to {directory}")
            target = directory / f"{name}.rdb"
            size, digest = copy_hashed(source, target, owner)
    backup = Backup(
        name, target, size, digest, snapshot.keyspace.keys, snapshot.keyspace.expires, when, unit.name,
        snapshot.node.node_id if snapshot.node else "", snapshot.node.slots if snapshot.node else (),
    )  # fmt: skip
    write_private(backup.checksum_path, checksum_line(digest, target.name).encode(), owner)
    write_private(backup.manifest_path, manifest_text(backup).encode(), owner)
    return backup


# --- restore -------------------------------------------------------------------------------------


class Control(Protocol):
    """Starting and stopping this unit's Redis, and replacing its configuration file."""

    def running(self) -> bool: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...

    def write_config(self, text: str) -> None: ...


@dataclass(frozen=True)
class SystemdControl:
    """The unit's Redis service under systemd, as the charm runs it."""

    layout: Layout

    def running(self) -> bool:
        return service.is_active(self.layout.service)

    def stop(self) -> None:
        service.systemctl("stop", self.layout.service)

    def start(self) -> None:
        service.systemctl("start", self.layout.service)

    def write_config(self, text: str) -> None:
        service.write_config(self.layout, text)


@dataclass(frozen=True)
class DataFiles:
    """Where the running Redis keeps its data: the snapshot, and the append-only file or directory."""

    snapshot: Path
    # Redis 7 keeps its append-only files in a directory, Redis 6 (jammy) in one file beside the snapshot.
    append_only: tuple[Path, ...]
    appendonly: bool

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.snapshot, *self.append_only)

    @property
    def aside(self) -> Path:
        return self.snapshot.parent / ASIDE

    def move_aside(self) -> None:
        """Keep the current data files under `aside` until the restored data is verified.

        The files that did not exist are listed there too: the restore may
        create them (an append-only directory), and a roll-back removes them.
        """
        self.aside.mkdir(mode=0o700)
        absent = [path.name for path in self.paths if not path.exists()]
        (self.aside / ABSENT).write_text("".join(f"{name}\n" for name in absent))
        for path in self.paths:
            if path.exists():
                path.rename(self.aside / path.name)

    def put_back(self) -> None:
        """The data files as they were before the restore; what the restore wrote is removed.

        Only what was moved aside (or listed absent) is touched: a restore that
        failed before moving anything leaves the data files as they are.
        """
        if not self.aside.is_dir():
            return
        listed = self.aside / ABSENT
        absent = set(listed.read_text().split()) if listed.exists() else set()
        for path in self.paths:
            kept = self.aside / path.name
            if kept.exists() or path.name in absent:
                remove(path)
            if kept.exists():
                kept.rename(path)
        self.forget_aside()

    def forget_aside(self) -> None:
        shutil.rmtree(self.aside, ignore_errors=True)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def config_value(client: redis.Redis, name: str) -> str:
    """One directive's value (Redis 6 takes one name per CONFIG GET); empty when Redis has no such directive."""
    return str(client.config_get(name).get(name, ""))


def data_files(client: redis.Redis) -> DataFiles:
    directory = Path(config_value(client, "dir"))
    append_only = [directory / config_value(client, "appendfilename")]
    if config_value(client, "appenddirname"):
        append_only.append(directory / config_value(client, "appenddirname"))
    return DataFiles(
        directory / config_value(client, "dbfilename"), tuple(append_only), config_value(client, "appendonly") == "yes"
    )


def wait_loaded(unit: Unit, wait: float) -> Keyspace:
    """The keyspace once Redis answers and has loaded its data; BackupError if it does not in time."""
    found: list[Keyspace] = []

    def loaded() -> bool:
        try:
            with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
                if str(client.info("persistence").get("loading")) != "0":
                    return False
                found.append(keyspace_of(client.info("keyspace")))
                return True
        except Exception:  # starting (refused, LOADING): ask again until `wait` is over
            return False

    if not service.wait_until(loaded, timeout=wait, interval=0.2):
        raise BackupError(f"Redis did not load its data within {wait:g} s")
    return found[-1]


def keys_loaded(unit: Unit, loaded: Keyspace) -> int:
    """How many keys Redis read from the snapshot at start (Redis 7 says; on Redis 6, the keys there are)."""
    with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
        counted = admin.persistence(client).get("rdb_last_load_keys_loaded")
    return loaded.keys if counted is None else int(counted)


def swap_in(unit: Unit, backup: Backup, files: DataFiles, control: Control, running: str, say: Say) -> Keyspace:
    """Stop Redis, put the backup's snapshot in place of its data, start it, check the keys; the loaded keyspace."""
    say("stopping Redis")
    control.stop()
    files.move_aside()
    say(f"putting {backup.name} in place of {files.snapshot}")
    with backup.path.open("rb") as source:
        copy_hashed(source, files.snapshot, owner_ids(unit.layout))
    if files.appendonly:
        # With appendonly on Redis would load the (absent) append-only file, not the snapshot.
        control.write_config(without_appendonly(running))
    say("starting Redis")
    control.start()
    loaded = wait_loaded(unit, LOAD_WAIT)
    count = keys_loaded(unit, loaded)
    if not backup.keyspace.admits(count):
        raise BackupError(f"Redis loaded {count} keys, the backup holds {backup.keys}")
    if files.appendonly:
        say("writing the append-only file from the restored data")
        admin.config_set(unit.layout.unixsocket, unit.password, {"appendonly": "yes"})
        admin.wait_for_aof(unit.layout.unixsocket, unit.password, SNAPSHOT_WAIT)
        control.write_config(running)
    return loaded


def roll_back(unit: Unit, files: DataFiles, control: Control, running: str, say: Say) -> str:
    """Put the data and configuration from before the restore back and start Redis; what came of it."""
    say("putting the previous data back")
    try:
        with suppress(service.ServiceError):  # not running: what matters is that it starts on the old data
            control.stop()
        files.put_back()
        control.write_config(running)
        control.start()
        loaded = wait_loaded(unit, LOAD_WAIT)
    except (service.ServiceError, BackupError, OSError) as error:
        where = f"it is kept in {files.aside}" if files.aside.exists() else f"it is back in {files.snapshot.parent}"
        return f"putting the previous data back failed too ({error}); {where}"
    return f"the previous data was put back ({loaded.keys} keys)"


def restore(unit: Unit, backup: Backup, control: Control, say: Say) -> Restored:
    """Replace this unit's data with the backup's; on any failure the previous data is put back."""
    verify(backup)
    say(f"{backup.name}: checksum verified")
    running = service.read_config(unit.layout)
    if running is None:
        raise BackupError("Redis is not configured by the charm yet; nothing was restored")
    files, node = inspect_running(unit, backup, say) if control.running() else inspect_stopped(running)
    if files.aside.exists():
        raise BackupError(
            f"refused: {files.aside} is left from a restore that did not finish and may hold the only copy "
            "of the data from before it; move it elsewhere, then run restore again"
        )
    try:
        loaded = swap_in(unit, backup, files, control, running, say)
        if node is not None:
            same_node(unit, node)
    except Exception as error:  # every failure puts the old data back
        outcome = roll_back(unit, files, control, running, say)
        raise BackupError(f"restore of {backup.name} failed: {error}; {outcome}") from None
    files.forget_aside()
    return Restored(loaded, "" if node is None else wait_cluster_ok(unit, CLUSTER_WAIT, say))


def inspect_running(unit: Unit, backup: Backup, say: Say) -> tuple[DataFiles, NodeIdentity | None]:
    """Where the running Redis keeps its data and which cluster node it is; its data saved to keep aside."""
    with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
        node = cluster_node(client)
        refusal = restore_refusal(backup, node)
        if refusal:
            raise BackupError(f"refused: {refusal}")
        files = data_files(client)
        if not files.appendonly:
            say("saving the current data, to keep it until the restore is verified")
            admin.wait_idle(client, SNAPSHOT_WAIT)
            before = saves_counted(client)
            client.bgsave()
            wait_for_snapshot(client, before, SNAPSHOT_WAIT, say)
    return files, node


def inspect_stopped(running: str) -> tuple[DataFiles, None]:
    """Where a stopped Redis keeps its data, from its redis.conf (a Redis that cannot start is restored too)."""
    found = conf.directives(running)
    if found.get("cluster-enabled") == "yes":
        raise BackupError(
            "refused: Redis is not running, and a cluster node's id and slots must be checked against the backup; "
            "start Redis first"
        )
    directory = Path(found.get("dir", "/var/lib/redis"))
    append_only = (directory / found.get("appendfilename", "appendonly.aof").strip('"'), directory / "appendonlydir")
    snapshot = directory / found.get("dbfilename", "dump.rdb").strip('"')
    return DataFiles(snapshot, append_only, found.get("appendonly") == "yes"), None


def same_node(unit: Unit, before: NodeIdentity) -> None:
    """After the restart the node must be the same cluster node, serving the same slots (nodes.conf kept)."""
    with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
        after = cluster_node(client)
    if after != before:
        found = f"node {after.node_id[:8]} serving {slots_text(after.slots) or 'no slots'}" if after else "no node"
        raise BackupError(f"after the restart Redis is {found}, not node {before.node_id[:8]}")


def wait_cluster_ok(unit: Unit, wait: float, say: Say) -> str:
    """The node's cluster_state once it is ok again after the restart, or as it is after `wait` seconds."""
    say("waiting for the cluster to see this node again")
    state = [""]

    def ok() -> bool:
        try:
            with admin.session(unit.layout.unixsocket, unit.password, admin.TIMEOUT) as client:
                state[0] = str(client.execute_command("CLUSTER", "INFO")).split("cluster_state:", 1)[1].split()[0]
        except Exception:  # not answering yet: ask again until `wait` is over
            return False
        return state[0] == "ok"

    service.wait_until(ok, timeout=wait, interval=0.2)
    return state[0] or "unknown"


# --- the actions (Juju at the edge) --------------------------------------------------------------

KV_INSTALLED = "redis.installed"


def this_unit() -> Unit:
    """This unit's Redis, as the charm installed and configured it."""
    from charmhelpers.core import hookenv, unitdata

    from charms.layer.redis import workload

    layout = workload.layout_of(unitdata.kv().get(KV_INSTALLED))
    running = service.read_config(layout)
    if running is None:
        raise BackupError("Redis is not installed and configured by the charm yet")
    from charms.layer.redis import password_actions

    password = admin.login_for(running, workload.known_admin_passwords(layout, password_actions.admin_passwords()))
    configured = str(hookenv.config().get("backup-dir") or DEFAULT_DIR)
    return Unit(hookenv.local_unit(), layout, password, Path(configured))


@contextmanager
def reported_errors() -> Iterator[None]:
    """Redis and file errors as one readable line (no secrets: the password never is in one)."""
    try:
        yield
    except (admin.Unreachable, admin.StillSaving, admin.CannotSave, service.ServiceError) as error:
        raise BackupError(str(error)) from None
    except OSError as error:
        raise BackupError(f"{error.strerror}: {error.filename}") from None


def backup_action(params: Mapping[str, Any]) -> dict[str, Any]:
    with reported_errors():
        unit = this_unit()
        directory = chosen_directory(params.get("dir"), unit.backup_dir)
        made = take(unit, directory, run_action.progress)
    return {"backup": describe(made)}


def list_backups_action(params: Mapping[str, Any]) -> dict[str, Any]:
    with reported_errors():
        unit = this_unit()
        directory = chosen_directory(params.get("dir"), unit.backup_dir)
        backups, unreadable = listed(directory)
    say = run_action.progress
    for problem in unreadable:
        say(f"skipped {problem}")
    results: dict[str, Any] = {"count": len(backups), "dir": str(directory)}
    if backups:
        results["backups"] = {
            backup.name: {k: v for k, v in describe(backup).items() if k != "name"} for backup in backups
        }
    return results


def restore_action(params: Mapping[str, Any]) -> dict[str, Any]:
    with reported_errors():
        unit = this_unit()
        directory = chosen_directory(params.get("dir"), unit.backup_dir)
        chosen = load(directory, str(params.get("name", "")))
        restored = restore(unit, chosen, SystemdControl(unit.layout), run_action.progress)
    results: dict[str, Any] = {"restored": chosen.name, "keys": restored.keyspace.keys, "backup-keys": chosen.keys}
    if restored.cluster_state:
        results["cluster-state"] = restored.cluster_state
    return results
