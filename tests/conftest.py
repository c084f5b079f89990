"""Hypothesis profiles.

``default``: fast, for the edit-test loop.  ``ci``: more examples, no deadline (shared CI
machines are noisy), selected with ``HYPOTHESIS_PROFILE=ci``.  Neither profile writes the
example database into the repository (``.hypothesis/`` is git-ignored, and ``ci`` uses none).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
