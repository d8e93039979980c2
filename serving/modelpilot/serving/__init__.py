"""`modelpilot serve`: the model server for one verified bundle.

Layers, outermost first:

    __main__    flags/env -> Settings, thread limits, verify+load the bundle, run uvicorn
    server      uvicorn with a SIGTERM drain (readiness false, in-flight finish, exit)
    app         create_app(settings, model=None): thin routes, no app built at import time
    v1, v2      the KServe V1 and Open Inference (V2) wire formats: raw bytes in, bytes out
    features    rows -> a validated float matrix, errors naming row and column
    batching    adaptive micro-batching of concurrent requests into one predict call
    model       the sklearn model object (load, predict, ready, version); the only sklearn user
    metrics     the Prometheus series that canary analysis reads
    errors      the exception tree; error_handlers maps it to HTTP codes in one place

Nothing here imports sklearn or numpy at import time of this package, so the thread
settings in `__main__` take effect before any BLAS/OpenMP runtime starts.
"""
