"""Hypothesis profiles and the example database (recipes in CONTRIBUTING.md).

Profiles, chosen with ``HYPOTHESIS_PROFILE`` (or pytest's ``--hypothesis-profile``):

- ``default``: 30 examples per property, for the edit-test loop. Failing examples go to the
  local database ``.hypothesis/`` (git-ignored) and are replayed first on the next run.
- ``ci``: 100 examples, no deadline (shared CI machines are noisy), no database: a CI run
  starts clean and prints the blob that reproduces a failure.
- ``thorough``: 1000 examples, for nightly runs (``pytest -n auto``); keeps the local database.

``HYPOTHESIS_DATABASE`` replaces the database of whichever profile is loaded, so that several
machines running shards of the suite share what they find — a counterexample found on one host
is replayed first on every host's next run:

- ``redis://host:6379/0`` (or ``rediss://``, ``unix:///path/to/redis.sock``): a Redis server
  (needs the ``redis`` package, in the ``parallel`` extra), through Hypothesis'
  ``RedisExampleDatabase``;
- ``none``: no database at all;
- anything else: a directory, e.g. on a file system every host mounts.

The database is never inside the repository's tracked files.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

PROFILES = {
    "default": {"max_examples": 30},
    "ci": {"max_examples": 100, "database": None, "print_blob": True},
    "thorough": {"max_examples": 1000, "print_blob": True},
}
for _name, _options in PROFILES.items():
    settings.register_profile(
        _name, deadline=None, suppress_health_check=[HealthCheck.too_slow], **_options
    )

# Entries not seen for this long leave the shared Redis database (Hypothesis' default is 8 days,
# shorter than the gap between two nightly runs of a rarely touched test).
REDIS_EXPIRY = timedelta(days=30)
REDIS_KEY_PREFIX = b"micrograd_nd-hypothesis:"


class ExampleDatabaseError(Exception):
    """HYPOTHESIS_DATABASE names a database that cannot be used."""


def example_database(spec: str) -> ExampleDatabase | None:
    """The example database that a ``HYPOTHESIS_DATABASE`` value names (see the module doc)."""
    if spec.strip().lower() == "none":
        return None
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return redis_database(spec)
    return DirectoryBasedExampleDatabase(os.path.expanduser(spec))


def redis_database(url: str) -> ExampleDatabase:
    """Hypothesis' Redis database at ``url``, after checking that the server answers."""
    # redis is an optional extra: imported only when a Redis database is asked for.
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as error:
        raise ExampleDatabaseError(
            f"HYPOTHESIS_DATABASE={url} needs the redis package: pip install -e '.[parallel]'"
        ) from error
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as error:
        raise ExampleDatabaseError(
            f"HYPOTHESIS_DATABASE={url}: no Redis server answers there ({error}); start one "
            f"(redis-server) or unset HYPOTHESIS_DATABASE"
        ) from error
    return RedisExampleDatabase(client, expire_after=REDIS_EXPIRY, key_prefix=REDIS_KEY_PREFIX)


def pytest_configure(config: pytest.Config) -> None:
    spec = os.environ.get("HYPOTHESIS_DATABASE")
    if spec:
        try:
            database = example_database(spec)
        except ExampleDatabaseError as error:
            raise pytest.UsageError(str(error)) from None
        # Every profile gets it, whichever one --hypothesis-profile loads after this hook.
        for name in PROFILES:
            settings.register_profile(name, settings.get_profile(name), database=database)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
