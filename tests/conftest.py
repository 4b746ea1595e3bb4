"""Eight host CPU devices for the sharding tests; hypothesis profiles 'ci' (default, full
counts, deterministic) and 'dev' (quick)."""

import jax

# Before any computation initialises the backend. Single-device tests still run on one device.
jax.config.update("jax_num_cpu_devices", 8)

from helpers import PROFILE  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=25)
settings.load_profile(PROFILE)
