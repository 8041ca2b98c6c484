"""`kiln explain`: what a trained convnet learned (the book's "interpreting what convnets learn").

TF side, beside training and export: it reads a run (or the run a registered model was exported
from) and draws intermediate activations, filter patterns and Grad-CAM heatmaps as PNGs.
Heavy code lives in submodules; this package's ``__init__`` imports nothing.
"""
