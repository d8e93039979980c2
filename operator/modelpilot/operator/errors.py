"""The operator's exceptions.

    OperatorError
    ├── ApiError            the apiserver answered with an error (status kept)
    │   ├── NotFound        404: the object is gone
    │   └── Conflict        409: a stale resourceVersion — retry the tick soon
    │       └── AlreadyExists   409 on create: create-if-absent treats it as done
    └── (SettingsError lives in settings: the operator refuses to start)

Retryable: ApiError (other than a spec problem, which plan() turns into a condition, never an
exception). The reconcile loop catches ApiError, logs it, and looks again with back-off.
"""

from __future__ import annotations


class OperatorError(Exception):
    pass


class ApiError(OperatorError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(Conflict):
    pass
