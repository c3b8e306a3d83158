"""Offline model compression: ``l4 compress RECIPE.yaml --out DIR`` (torch: the ``[train]`` extra).

A recipe (:mod:`tools.compress.recipe`) names the dense model, the training scenarios, the
method (registry: :mod:`tools.compress.methods`) with its options, the fine-tuning schedule and a
seed. Each variant is written as ONNX + model card into its own folder, atomically
(:mod:`tools.compress.output`), and each run writes a report (JSON + Pareto plot).

INT8 Q/DQ and fusion: :mod:`tools.compress.quantize`, :mod:`tools.compress.fusion`.
"""
