"""Why a traffic router could not do what it was asked.

    RouterError
    ├── RouterSpecError   permanent: the spec or the route cannot work as written (an unknown
    │                     router kind, a route with no rule sending traffic to the stable
    │                     Service); retrying will not help until a person changes something
    ├── RouteNotFound     retryable: the HTTPRoute, VirtualService or Deployment is not there
    │                     (yet); it may be created by a person or by the next reconcile
    └── RouteConflict     retryable: someone else kept changing the object between our read
                          and our write (resourceVersion conflicts outlasted the retries)

modelpilot.operator.errors.from_component translates them, in one place, by `retryable`: a
retryable one into an ApiError that the work queue retries with back-off, the others into a
PermanentError that ends in Stalled=True (reason RouterSpecInvalid). Routers never import kopf
or the operator.
"""

from __future__ import annotations


class RouterError(Exception):
    """Base of every traffic-router error."""

    retryable = False


class RouterSpecError(RouterError):
    """The router configuration or the route object cannot work as written."""


class RouteNotFound(RouterError):
    """The object the router weights does not exist."""

    retryable = True


class RouteConflict(RouterError):
    """Optimistic-concurrency conflicts outlasted the retries."""

    retryable = True
