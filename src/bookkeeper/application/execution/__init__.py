"""The outbox executor: approved proposals carried out in Fiken and Folio exactly once.

Approved proposals are the outbox (ADR 0009). One pass (`Executor.run_once`, executor.py):

1. **Claim** (claims.py), in one unit of work: the due APPROVED proposals, each given a new
   attempt under a lease (`…ExecutionStarted`), with their streams and the stored documents
   their actions send.
2. **Act** (actions.py, books_actions.py, bank_actions.py), outside any transaction: the
   remote calls, each tagged with our reference `bk-<proposal id hex>`. An attempt after the
   first (a crash whose lease ran out, or a retry after a failure that may have committed
   remotely) first looks the reference up and reuses what it finds. Before every remote
   call the attempt (attempt.py) checks that what it executes is APPROVED and that its
   lease still runs (with a margin): once the lease is over another executor may take the
   proposal, so this one stops and records nothing.
3. **Record** (recording.py), in one unit of work: `…Executed` with the ledger entries the
   proposal posts (application/postings.py), or `…ExecutionFailed` with back-off, or
   `…Failed` and an alert. A success is recorded while its tenant's next attempt acts
   (its lease held until then), and the successes waiting share a unit of work (group
   commit).

A crash anywhere leaves the proposal APPROVED with a lease; once the lease has run out it
is claimed again and step 2 reconciles. Leases are short and renewed by a heartbeat while
a pass holds them (lease.py, ADR 0026); a lease that is lost cuts its attempt short.
Proposals of one tenant run one after another
(Fiken takes one request at a time per company); up to `tenant_concurrency` tenants run at
once, and a pass claims its batch in one unit of work.
policy.py holds what all of them share.
"""

from bookkeeper.application.execution.bank_actions import FOLIO_KEEPS_ATTACHMENT
from bookkeeper.application.execution.books_actions import purchase_lines
from bookkeeper.application.execution.claims import Claim
from bookkeeper.application.execution.executor import Executor
from bookkeeper.application.execution.policy import (
    EXECUTOR_ACTOR,
    ExecutionPolicy,
    ExecutionRefused,
    ExecutionReport,
    LeaseLost,
    Outcome,
    reference,
    safe_error,
)

__all__ = [
    "EXECUTOR_ACTOR",
    "FOLIO_KEEPS_ATTACHMENT",
    "Claim",
    "ExecutionPolicy",
    "ExecutionRefused",
    "ExecutionReport",
    "Executor",
    "LeaseLost",
    "Outcome",
    "purchase_lines",
    "reference",
    "safe_error",
]
