"""Test configuration: hypothesis profiles and shared fixtures.

Profiles: `ci` (the default: bounded and deterministic, so CI is reproducible and fits its time
budget) and `thorough` (many more examples, random seeds). Select with HYPOTHESIS_PROFILE=thorough.
"""

import os

# Eight CPU devices, as JAX users configure them, so that sharding tests have a mesh to use.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=8").strip()

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
