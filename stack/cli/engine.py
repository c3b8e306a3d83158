"""`l4 engine info|fuse-report|qdq-check|build|bench|compare MODEL`: inspect ONNX models, check
Q/DQ files against TensorRT's rules, build cached TensorRT engines, time a backend against a bare
ONNX Runtime session, and compare two backends."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stack.cli import argtypes, engine_fusion, engine_qdq
from stack.cli.errors import CliError

BACKENDS = ("auto", "tensorrt", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")
# Upper bounds of numeric options: beyond them a run only fails later, deep in a backend.
RUN_BATCH = argtypes.bounded_int(1, 4096)  # a batch that is allocated and run
MAX_INFO_BATCH = 2**31 - 1  # a batch only counted (FLOPs)
MAX_DIM = 2**40  # one dimension of a --shape (an ONNX dim is an int64)
MAX_DLA_CORE = 15
MAX_THREADS = 1024
MAX_ITERS = 10**7
MAX_WORKSPACE_MB = 1 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="inspect, build, benchmark and compare inference engines")
    cmds = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)

    _add_info(cmds)
    engine_fusion.add_parser(cmds)
    engine_qdq.add_parser(cmds)

    build = cmds.add_parser("build", help="build (or find cached) a TensorRT engine")
    build.add_argument("model", type=Path)
    _engine_options(build)
    build.add_argument(
        "--dla", type=argtypes.bounded_int(0, MAX_DLA_CORE), metavar="N",
        help="DLA core, GPU fallback",
    )  # fmt: skip
    build.add_argument("--calib", metavar="BAG:TOPIC|DIR", help="INT8 calibration images")
    build.add_argument("--rgb", action="store_true", help="calibration: network wants RGB")
    build.add_argument("--sparse", action="store_true", help="SPARSE_WEIGHTS")
    build.add_argument("--max-batch", type=RUN_BATCH, default=1, help="dynamic batch upper bound")
    build.add_argument(
        "--workspace-mb", type=argtypes.bounded_int(1, MAX_WORKSPACE_MB), default=1024
    )
    build.add_argument("--rebuild", action="store_true", help="build even when cached")
    build.set_defaults(func=run_build)

    bench = cmds.add_parser("bench", help="p50/p99 latency and throughput")
    bench.add_argument("model", type=Path)
    bench.add_argument("--backend", choices=BACKENDS, default="onnxruntime")
    _engine_options(bench)
    bench.add_argument("--iters", type=argtypes.bounded_int(1, MAX_ITERS), default=200)
    bench.add_argument(
        "--threads", type=argtypes.bounded_int(1, MAX_THREADS), default=2,
        help="ONNX Runtime intra-op threads",
    )  # fmt: skip
    bench.add_argument("--batch", type=RUN_BATCH, default=1, help="for a dynamic batch dim")
    bench.add_argument(
        "--no-baseline", action="store_true", help="skip the bare InferenceSession comparison"
    )
    bench.add_argument("--json", type=Path, metavar="OUT")
    bench.set_defaults(func=run_bench)

    cmp = cmds.add_parser("compare", help="max abs / rel output error of two backends")
    cmp.add_argument("model", type=Path)
    cmp.add_argument("--backend", choices=BACKENDS, required=True)
    cmp.add_argument("--ref", choices=BACKENDS, default="onnxruntime")
    _engine_options(cmp)
    cmp.add_argument("--seed", type=argtypes.seed, default=0)
    cmp.add_argument("--batch", type=RUN_BATCH, default=1)
    cmp.add_argument(
        "--tol", type=argtypes.non_negative_float,
        help="exit 1 when any max abs error exceeds this",
    )  # fmt: skip
    cmp.add_argument("--json", type=Path, metavar="OUT")
    cmp.set_defaults(func=run_compare)


def _add_info(cmds: argparse._SubParsersAction) -> None:
    info = cmds.add_parser("info", help="inputs, outputs, opset, ops, parameters, FLOPs")
    info.add_argument("model", type=Path)
    info.add_argument(
        "--batch", type=argtypes.bounded_int(1, MAX_INFO_BATCH), default=1,
        help="a dynamic leading (batch) dimension, for FLOPs (default 1)",
    )  # fmt: skip
    info.add_argument(
        "--shape", type=input_shape, action="append", default=[], metavar="NAME:DxDx...",
        help="a whole input shape for FLOPs, e.g. images:1x3x384x640 (repeatable); other "
        "dynamic dimensions than the batch leave the FLOPs unknown",
    )  # fmt: skip
    info.add_argument("--json", type=Path, metavar="OUT", help="also write the info as JSON")
    info.set_defaults(func=run_info)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--cache-dir", type=Path, help="engine cache (default ~/.cache/l4stack)")


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def _load(model: Path, backend: str, args: argparse.Namespace, **extra: Any) -> Any:
    from stack.engine import EngineOptions, load_engine

    options = EngineOptions.of(
        backend=backend, precision=args.precision, cache_dir=args.cache_dir, **extra
    )
    return load_engine(model, options)


def model_info(
    path: Path, batch: int = 1, shapes: dict[str, tuple[int, ...]] | None = None
) -> dict[str, Any]:
    """What `l4 engine info` shows; ``flops``/``macs`` are None when a dynamic input dimension
    other than the batch has no ``shapes`` entry (``flops_open_dims`` names them)."""
    from stack.engine.flops import count_flops, input_shapes
    from stack.engine.model import read_model

    model = read_model(path)
    fixed, open_dims = input_shapes(model, batch, shapes)
    flops = count_flops(model, batch, shapes)
    return {
        "model": str(path),
        "sha256": model.sha256,
        "opset": model.opset,
        "inputs": [s.describe() for s in model.inputs],
        "outputs": [s.describe() for s in model.outputs],
        "parameters": model.parameter_count(),
        "flops": None if flops is None else flops.flops,
        "macs": None if flops is None else flops.macs,
        "flops_batch": batch,
        "flops_input_shapes": None if open_dims else {k: list(v) for k, v in fixed.items()},
        "flops_open_dims": [str(d) for d in open_dims],
        "flops_unknown_nodes": None if flops is None else flops.unknown_nodes,
        "quantized_qdq": model.has_qdq,
        "ops": dict(model.op_histogram().most_common()),
    }


def input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``NAME:1x3x384x640`` -> (NAME, (1, 3, 384, 640)); argparse type of ``--shape``."""
    name, sep, dims = text.rpartition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(
            f"expected NAME:DxDx..., e.g. images:1x3x384x640, got {text!r}"
        )
    parse_dim = argtypes.bounded_int(1, MAX_DIM)
    try:
        shape = tuple(parse_dim(d) for d in dims.replace(",", "x").split("x"))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: a dimension {exc}") from None
    return name, shape


def _si(n: int) -> str:
    """1.23 G style; an exact integer count of any size (no float overflow)."""
    if n >= 10**15:
        digits = str(n)
        return f"{digits[0]}.{digits[1:3]}e{len(digits) - 1}"
    for unit, scale in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return str(n)


def _flops_line(info: dict[str, Any]) -> str:
    if info["flops"] is None:
        return (
            f"FLOPs/inference unknown: dynamic input dimensions {', '.join(info['flops_open_dims'])}; "
            "give their shapes with --shape NAME:DxDx..."
        )
    shapes = ", ".join(
        f"{name} {'x'.join(map(str, shape))}" for name, shape in info["flops_input_shapes"].items()
    )
    return (
        f"FLOPs/inference {_si(info['flops'])} (MACs {_si(info['macs'])}, inputs {shapes}; "
        f"{info['flops_unknown_nodes']} nodes without shapes)"
    )


def run_info(args: argparse.Namespace) -> int:
    shapes = dict(args.shape)
    if len(shapes) != len(args.shape):
        raise CliError("--shape: an input is given twice")
    info = model_info(args.model, args.batch, shapes)
    print(f"{info['model']}  opset {info['opset']}  sha256 {info['sha256'][:16]}")
    for s in info["inputs"]:
        print(f"  input   {s}")
    for s in info["outputs"]:
        print(f"  output  {s}")
    print(f"  parameters {info['parameters']:,}")
    print("  " + _flops_line(info))
    print("  ops " + ", ".join(f"{op} {n}" for op, n in info["ops"].items()))
    _emit(info, args.json)
    return 0


def run_build(args: argparse.Namespace) -> int:
    from stack.engine import ChannelOrder, Preprocess

    preprocess = Preprocess(channel_order=ChannelOrder.RGB if args.rgb else ChannelOrder.BGR)
    engine = _load(
        args.model,
        "tensorrt",
        args,
        dla_core=args.dla,
        sparse_weights=args.sparse,
        calibration=args.calib,
        preprocess=preprocess,
        max_batch=args.max_batch,
        workspace_mb=args.workspace_mb,
        rebuild=args.rebuild,
    )
    print(f"{engine!r}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from stack.engine.measure import bench_engine

    engine = _load(args.model, args.backend, args, intra_op_threads=args.threads)
    result = bench_engine(
        engine, args.model, args.iters, args.threads, args.batch, not args.no_baseline
    )
    print(json.dumps(result, indent=2))
    _emit(result, args.json)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from stack.engine import example_feeds
    from stack.engine.measure import output_errors

    engine = _load(args.model, args.backend, args)
    ref = _load(args.model, args.ref, args)
    feeds = example_feeds(ref.inputs, dynamic=args.batch, seed=args.seed)
    errors = output_errors(engine.run(feeds), ref.run(feeds))
    result = {
        "model": str(args.model),
        "backend": f"{engine.backend.value} ({engine.device})",
        "ref": f"{ref.backend.value} ({ref.device})",
        "outputs": [e.to_dict() for e in errors],
    }
    for e in errors:
        print(f"{e.name}: max abs {e.max_abs:.3g}  max rel {e.max_rel:.3g}")
    _emit(result, args.json)
    if args.tol is not None and any(e.max_abs > args.tol for e in errors):
        return 1
    return 0
