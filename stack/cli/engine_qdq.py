"""`l4 engine qdq-check MODEL`: every QuantizeLinear / DequantizeLinear of a Q/DQ ONNX file
against TensorRT's explicit-quantization rules (stack.engine.trt_qdq), without TensorRT."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(cmds: argparse._SubParsersAction) -> None:
    p = cmds.add_parser(
        "qdq-check", help="check a Q/DQ model against TensorRT's quantization rules (static)"
    )
    p.add_argument("model", type=Path)
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the problems as JSON")
    p.set_defaults(func=run_qdq_check)


def run_qdq_check(args: argparse.Namespace) -> int:
    """0: TensorRT takes every Q/DQ node (or there is none); 1: problems, one line each."""
    from stack.engine.model import QDQ_OPS, read_model
    from stack.engine.trt_qdq import check_qdq

    model = read_model(args.model)  # ModelError names the file
    count = sum(n.op_type in QDQ_OPS for n in model.proto.graph.node)
    problems = check_qdq(model.proto)
    for p in problems:
        print(f"  {p}")
    verdict = (
        f"{len(problems)} problem(s) TensorRT refuses" if problems else "TensorRT's rules hold"
    )
    print(f"{args.model}: {count} Q/DQ nodes; {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"node": p.node, "op": p.op, "rule": p.rule.name, "detail": p.detail}
                for p in problems]  # fmt: skip
        args.json.write_text(json.dumps({"model": str(args.model), "qdq_nodes": count,
                                         "problems": rows}, indent=2) + "\n")  # fmt: skip
    return 1 if problems else 0
