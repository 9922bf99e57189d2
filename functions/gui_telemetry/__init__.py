"""Telemetry: facts from the domain events as Parquet files per tenant and day in S3, and their
DuckDB aggregates (SLA, cost, queues, trends, module figures) in the metrics cache."""
