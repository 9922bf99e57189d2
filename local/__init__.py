"""The local runtime: the whole backend on one machine, no Docker, no AWS account."""
