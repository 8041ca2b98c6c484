"""Parts of the serving benchmark (tests/benchmarks/bench_serving.py): the models, bare
onnxruntime arrangements, the ``wrk`` client, the server processes and the hand-made server."""
