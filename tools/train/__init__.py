"""Offline training of l4stack's demo models (torch; install the ``[train]`` extra).

``l4 train detector`` generates scenario bags, trains the tiny camera detector
(:mod:`tools.train.detector_model`), exports it to ONNX with its model card and evaluates it
on a held-out scenario seed through the same code the camera detector node runs.
Modules that import torch: detector_model, targets' torch half lives in detector_model, train,
export. data and evaluate are torch-free.
"""
