"""Hypothesis profiles: 'ci' (default, full counts, deterministic) and 'dev' (quick)."""

from helpers import PROFILE
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=25)
settings.load_profile(PROFILE)
