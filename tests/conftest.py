"""Eight host CPU devices for the sharding tests, and the hypothesis profiles of
`helpers.PROFILES` ('default', 'thorough', 'dev'), chosen by `JAXPAD_HYPOTHESIS`.

Under pytest-xdist every worker imports this file first, so each one has the eight devices.
"""

import os

# The tests compile thousands of tiny programs, whose run time is negligible: LLVM's
# optimisations of the CPU code cost a third of their compile time. (XLA's own passes, which
# the tests of compiled programs read, are unaffected.)
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(
        (os.environ.get("XLA_FLAGS", ""), "--xla_backend_optimization_level=0")).strip()

import jax  # noqa: E402

# Before any computation initialises the backend. Single-device tests still run on one device.
jax.config.update("jax_num_cpu_devices", 8)

from helpers import PROFILE  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
settings.register_profile("thorough", parent=settings.get_profile("default"))
settings.register_profile("dev", parent=settings.get_profile("default"), max_examples=25)
settings.load_profile(PROFILE)
