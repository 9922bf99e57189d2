"""`python -m stacks.constructs.observability --grafana <path>` writes the Grafana dashboard."""

from stacks.constructs.observability.grafana import main

raise SystemExit(main())
