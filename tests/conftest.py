"""Shared test configuration: hypothesis profile for a small, shared 2-core machine."""

from hypothesis import HealthCheck, settings

# No per-example deadline and no too-slow health check: timing on a shared machine is
# noise, and benchmarks (never tests) are where speed is measured.
settings.register_profile("churnwatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("churnwatch")
