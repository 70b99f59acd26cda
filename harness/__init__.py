"""lgc-harness: vendor conformity harness for French medical practice software.

The public API for plugin authors is re-exported here: declare checks with
:func:`check`, report :class:`Finding` objects with :class:`Evidence`, and
implement hooks from :mod:`harness.hookspecs` with :data:`hookimpl`.
"""

__version__ = "0.1.0"

from .checks import Check, check  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .model import (  # noqa: E402
    CheckResult,
    Evidence,
    Fail,
    Finding,
    HttpExchange,
    NotApplicable,
    Requirement,
    Severity,
    Skip,
    Status,
    TargetError,
    errored,
    failed,
    not_applicable,
    passed,
    review,
    sha256_bytes,
    sha256_file,
    warned,
)
from .registry import Reporter, TargetKind  # noqa: E402

__all__ = [
    "__version__", "Check", "check", "hookimpl", "CheckResult", "Evidence", "Fail", "Finding", "HttpExchange",
    "NotApplicable", "Requirement", "Severity", "Skip", "Status", "TargetError", "errored", "failed",
    "not_applicable", "passed", "review", "sha256_bytes", "sha256_file", "warned", "Reporter", "TargetKind",
]
