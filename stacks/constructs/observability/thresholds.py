"""The alarms' thresholds and periods: defaults to tune per deployment, each with why it is that."""

from __future__ import annotations

import aws_cdk as cdk

from stacks.manifest import STREAM_FUNCTION

PERIOD = cdk.Duration.minutes(5)  # the evaluation period of most alarms
# REST API: 5xx answers above 1 % of the requests of 5 minutes, once the stage served at least
# API_MIN_REQUESTS of them (two failures among three requests at night are not an outage).
API_5XX_RATE_PERCENT = 1.0
API_MIN_REQUESTS = 20
# REST latency: the slowest p99 among the REST functions and the authorizer above 2 s in 3 of 5
# one-minute periods. API Gateway's own Latency of the stage cannot be the alarm's metric: the SSE
# route is a long poll held up to 20 s by design, so the stage's p99 is that hold.
LATENCY_P99_MS = 2000
LATENCY_DATAPOINTS, LATENCY_PERIODS = 3, 5
# Functions whose invocations are long polls by design, left out of the latency alarm.
LONG_POLL_FUNCTIONS = (STREAM_FUNCTION.name,)
# A function's errors (exceptions, timeouts, out of memory) above 5 % of its invocations of 5
# minutes: one failed run of a scheduled function is 100 %. Records a consumer reports as failed
# are not errors; its iterator age and dead-letter queue tell of them.
FUNCTION_ERROR_RATE_PERCENT = 5.0
# Any throttled invocation: the region's concurrency is exhausted, or a reserved limit is too low.
FUNCTION_THROTTLES = 0
# Stream consumers more than a minute behind (Lambda's IteratorAge; the stream's own read age), in
# 3 of 5 minutes: a batch retried after a failure is expected to lag for a moment.
ITERATOR_AGE_MS = 60_000
ITERATOR_AGE_DATAPOINTS, ITERATOR_AGE_PERIODS = 3, 5
# Writes the stream refused for lack of shard capacity, in 3 of 5 minutes: EventBridge retries them,
# so only a sustained refusal (a shard too few) threatens delivery.
STREAM_WRITE_THROTTLES = 0
# Anything in a dead-letter queue: a delivery that failed for good and waits to be redriven.
DLQ_VISIBLE_MESSAGES = 0
# Anything in the quarantine: poison records of the stream's consumers wait for an operator (to
# inspect, replay or discard them: `ddgui quarantine`); and any record quarantined in 5 minutes,
# which tells of new ones while the queue's alarm is already in alarm for older ones.
QUARANTINE_VISIBLE_MESSAGES = 0
RECORDS_QUARANTINED = 0
# The authorizer: any request it could not verify for want of its identity provider's keys (answered
# 503: users are refused); and failed key set fetches in 3 of 5 periods (the last good keys are still
# served for hours, so a blip is not worth a page, a lasting outage is).
AUTHORIZER_UNAVAILABLE = 0
JWKS_FETCH_FAILURES = 0
JWKS_FETCH_DATAPOINTS, JWKS_FETCH_PERIODS = 3, 5
# Schema migrations: any migration that failed (the deploy step's, an operator's apply, the worker's:
# the ledger keeps the error and the tenant's checkpoint); and work items waiting in the work queue
# while none is taken off it for 3 periods of 5 minutes (each worker run takes at most its 5 minutes
# and deletes its item, re-queueing a tenant it did not finish): the backfill is stuck. A long queue
# alone is no alarm: a large backfill waits its turn.
MIGRATION_FAILURES = 0
MIGRATION_STALLED_PERIODS = 3
# Per-tenant work of the schedules (gui_core.tenant_work): the oldest work item waiting longer than
# its cycle in 2 consecutive periods (the workers do not get round every homed tenant in a cycle:
# too few at once, or failing), and any work item dropped because its cycle ended before a worker
# took it (that tenant missed a cycle).
WORK_BEHIND_PERIODS = 2
WORK_ITEMS_EXPIRED = 0
# Per-tenant rate-limit refusals (429) of every guarded function together, per 5 minutes: a client
# in a loop, or limits set too low for a tenant.
RATE_LIMIT_BREACHES = 100
# Requests of tenants homed in another region (answered 421), per 5 minutes: clients that ignore
# the answer's Location, or a routing mistake sending one region's users to another.
RESIDENCY_REFUSALS = 50
# Any event of a tenant homed elsewhere on this region's stream: a producer publishing to the wrong
# region's bus (the consumers refuse the event; its data never lands here).
RESIDENCY_EVENTS_REFUSED = 0
# Search: any index found drifted from the registry (rebuilt, but something lost events), and any
# tenant whose check failed.
SEARCH_INDEX_DRIFT = 1
SEARCH_CHECK_FAILURES = 1
# Telemetry tenants that failed in 2 of 3 five-minute periods: one failed run is retried by the next.
TELEMETRY_TENANTS_FAILED = 1
TELEMETRY_DATAPOINTS, TELEMETRY_PERIODS = 2, 3
# A schedule is missed when its function ran not once in twice its rate.
SCHEDULE_MISSED_FACTOR = 2
# Connection high-water marks per 5 minutes, in 2 consecutive periods (a reconnect wave after a
# deployment lasts less): WebSocket connects (a client reconnects at most every 2 h of API
# Gateway's connection limit), and SSE long polls (each open stream polls about 15 times).
WEBSOCKET_CONNECTS = 3000
SSE_REQUESTS = 30_000
CONNECTIONS_PERIODS = 2
# Any invocation of a rule's target that EventBridge failed (panels.RULE_FAILURE_METRICS): it sends
# these metrics only when they are not zero.
RULE_FAILED_INVOCATIONS = 0
