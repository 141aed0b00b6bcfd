"""Actions about the passwords: get-admin-password.

The password is printed on the action's standard output, which Juju keeps as
the `stdout` of the action's results (`juju run` shows it) and never logs.
`action-set` would do the same but takes its values as process arguments,
where any user of the machine could read them while it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from charms.layer.redis import credentials
from charms.layer.redis.run_action import ActionRefused


def default_password() -> str:
    """The default user's password: the `password` option, else the one the leader generated."""
    from charmhelpers.core import hookenv

    configured = hookenv.config().get("password") or ""
    if configured:
        return configured
    settings = hookenv.leader_get() or {}
    ref = credentials.ref_from(settings)
    if ref is None:
        legacy = settings.get(credentials.LEGACY_PASSWORD)
        if not legacy:
            raise ActionRefused("no password yet: the leader has not generated it")
        return legacy
    cache = credentials.Cache(Path(hookenv.charm_dir()) / credentials.CACHE_NAME)
    try:
        content = credentials.read(ref, credentials.HookSecretTools(), cache)
    except credentials.SecretError as error:
        raise ActionRefused(f"the passwords' secret cannot be read: {error}") from None
    return content[credentials.DEFAULT_PASSWORD]


def get_admin_password(params: dict[str, Any]) -> dict[str, Any]:
    """Print the password of the charm's administrative user (`default`); results name the user."""
    sys.stdout.write(default_password() + "\n")
    sys.stdout.flush()
    return {"username": "default"}
