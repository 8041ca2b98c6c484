"""A local Ray that ``kiln train`` starts for itself (``kiln.localray.no_monitors``) leaves out the
autoscaler monitor and the log monitor, its dashboard agent takes any free port, and only while
it starts: the parameters Ray builds its node from, checked without starting a Ray."""

from __future__ import annotations

import ray._private.parameter as parameter

from kiln.localray import no_monitors


def test_a_run_s_own_ray_starts_without_monitors_and_the_default_returns_after():
    original = parameter.RayParams
    with no_monitors():
        params = parameter.RayParams()
        assert params.no_monitor is True and params.include_log_monitor is False
        assert params.dashboard_agent_listen_port == 0
        assert isinstance(params, original)
    assert parameter.RayParams is original
    assert parameter.RayParams().no_monitor is False
