"""Offline model compression (pruning: issue 21; INT8 Q/DQ and fusion: :mod:`tools.compress.quantize`,
:mod:`tools.compress.fusion`)."""
