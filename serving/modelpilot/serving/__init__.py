"""`modelpilot serve`: the model server for one verified bundle.

Layers, outermost first:

    __main__    flags/env -> Settings, thread limits, verify+load the bundle, run uvicorn
    server      uvicorn with a SIGTERM drain (readiness false, in-flight finish, exit)
    app         create_app(settings, model=None): no app built at import time
    fastpath    the hot predict/infer POSTs dispatched by exact path; version headers
    routes      every route, thin (health, metadata, /metrics, OpenAPI, other names)
    service     what routes call: model + layout + batcher + metrics of one app
    v1, v2      the KServe V1 and Open Inference (V2) wire formats: raw bytes in, bytes out
    codec       orjson in and out (stdlib json as the NaN-tolerant fallback on errors)
    features    rows -> a validated float matrix, errors naming row and column
    batching    adaptive micro-batching of concurrent requests into one predict call
    model       the sklearn model object (load, predict, ready, version)
    ensembles   forests and HistGradientBoosting without sklearn's per-call overhead
    metrics     the Prometheus series that canary analysis reads
    errors      the exception tree; error_handlers maps it to HTTP codes in one place

Routes and protocols never import sklearn; only model and ensembles do.

Nothing here imports sklearn or numpy at import time of this package, so the thread
settings in `__main__` take effect before any BLAS/OpenMP runtime starts.
"""
