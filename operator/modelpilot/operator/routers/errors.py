"""Why a traffic router could not do what it was asked.

    RouterError
    ├── RouterSpecError   permanent: the spec or the route cannot work as written (an unknown
    │                     router kind, a route with no rule sending traffic to the stable
    │                     Service); retrying will not help until a person changes something
    ├── RouteNotFound     retryable: the HTTPRoute, VirtualService or Deployment is not there
    │                     (yet); it may be created by a person or by the next reconcile
    └── RouteConflict     retryable: someone else kept changing the object between our read
                          and our write (resourceVersion conflicts outlasted the retries)

The kopf shell translates `retryable` errors into `kopf.TemporaryError` and the others into
`kopf.PermanentError`, in one place; routers never import kopf.
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
