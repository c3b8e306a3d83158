"""Sparse training of the camera detector on the CPU (torch; the ``[train]`` extra).

- MEST (arXiv 2110.14032, :mod:`.mest`): sparse from the first step at a fixed density,
  elastic mutation (prune by |w| + lambda |grad|, regrow random zeros), a soft memory bound,
  forgetting-based data removal (:mod:`.forgetting`); unstructured, block and channel schemes
  (:mod:`.masks`), channel masks slimmed into a smaller model by Torch-Pruning (:mod:`.slim`).
- SparCL (arXiv 2209.09476, :mod:`.runs`, :mod:`.trainer`): task-aware dynamic masking (MEST
  restarted per task), dynamic data removal, dynamic gradient masking (:mod:`.gradmask`) over
  DER++ / ER (:mod:`.replay`), across day -> night -> fog -> rain; on channel masks the steps
  run on a physically slimmed copy rebuilt at each mask change (:mod:`.slimtrain`).
- Training FLOPs are counted analytically per step (:mod:`.flops`); continual-learning metrics
  (accuracy matrix, average AP, forgetting, backward transfer) in :mod:`.metrics` (numpy only).
"""
