"""The Redis charm's logic: importable and testable without Juju."""
