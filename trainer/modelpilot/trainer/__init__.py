"""`modelpilot train`: load data, fit, evaluate candidate and stable on one holdout, write a bundle.

The steps are pure functions in modules named by concept (`datasets.load_dataset`,
`estimators.build_estimator`, `preprocessing.build_preprocessor`, `splitting.split`,
`fitting.fit`, `evaluation.evaluate`, `champion.score_stable`); `run.train` strings them
together, and `__main__` only turns flags and environment into settings, calls it, reports
and sets the exit code.
"""
