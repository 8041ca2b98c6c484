"""Drift of served traffic against the training split (TF-free, Ray-free, numpy only).

``histogram`` bins values the way the manifest's ``training_stats`` did and merges windows
exactly; ``score`` compares two histograms (population stability index); ``features`` turns a
batch of model inputs and outputs into the manifest's features; ``stats`` computes the training
statistics at export; ``monitor`` keeps a replica's sliding window and its scores; ``logs``
reads the sampled request log back for ``kiln drift report``.
"""
