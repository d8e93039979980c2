"""KServe's sklearn predictor for the benchmark, run inside the KServe venv the bench creates.

KServe publishes its sklearn server (`sklearnserver`) only as a container image, not on PyPI,
so this is the same thing built from the `kserve` package: a `kserve.Model` that joblib-loads
the model file and predicts through KServe's own request codecs (`get_predict_input` /
`get_predict_response`), served by `kserve.ModelServer` (V1 and V2 REST). Not imported by
modelpilot; `bench/serve_vs_mlserver_kserve.py` starts it as a separate process.

    python serve_kserve_sklearn.py --model_file DIR/model.joblib --model_name iris \
        --http_port 8080 --workers 1 --enable_grpc false
"""

from __future__ import annotations

import argparse

import joblib
from kserve import Model, ModelServer, model_server
from kserve.errors import InferenceError
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnModel(Model):
    def __init__(self, name: str, model_file: str) -> None:
        super().__init__(name)
        self.model_file = model_file
        self.ready = False

    def load(self) -> bool:
        self._model = joblib.load(self.model_file)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):  # type: ignore[no-untyped-def]
        try:
            instances = get_predict_input(payload)
            result = self._model.predict(instances)
            return get_predict_response(payload, result, self.name)
        except Exception as exc:
            raise InferenceError(str(exc)) from exc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_file", required=True)
    args, _ = parser.parse_known_args()
    model = SKLearnModel(args.model_name, args.model_file)
    model.load()
    ModelServer().start([model])
