"""``python -m kiln_operator``: the operator's entry point (the chart's container command).

    python -m kiln_operator                      # watch every namespace (needs a ClusterRole)
    python -m kiln_operator -n team-a -n team-b  # watch only these (Roles suffice)

The liveness endpoint (kopf's probe, ``/healthz``) and the metrics port (``/metrics``,
``KILN_OPERATOR_METRICS_PORT``, default 8080) are what the chart's probes and ServiceMonitor
use. Other settings come from ``KILN_OPERATOR_*`` variables (``kiln_operator.settings``).
"""

from __future__ import annotations

import argparse
import logging

import kopf

DEFAULT_LIVENESS = "http://0.0.0.0:8081/healthz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kiln_operator", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="a namespace to watch (repeatable); none means all namespaces",
    )
    parser.add_argument("--liveness", default=DEFAULT_LIVENESS, help="kopf's probe endpoint URL")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    import kiln_operator.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.run(
        standalone=True,  # one replica; no peering objects to install or grant
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )


if __name__ == "__main__":
    main()
