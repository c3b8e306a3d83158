"""`l4 eval RUN_DIR`: score a replay's outputs against the ground truth of its scenario bag."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stack.cli import argtypes

# (key, label, format, target, higher is better); targets are issue 6's acceptance figures.
SUMMARY = (
    ("camera_ap50", "camera AP@0.5 (vehicles)", "{:.3f}", 0.8, True),
    ("lidar_recall", "lidar recall (<= 40 m)", "{:.3f}", 0.9, True),
    ("mota", "tracking MOTA", "{:.3f}", 0.8, True),
    ("id_switches", "ID switches", "{:d}", None, False),
    ("loc_rmse_m", "localization RMSE (m)", "{:.3f}", 0.3, False),
    ("min_clearance_m", "min clearance of plans (m)", "{:.2f}", 1.0, True),
    # issue 23: contacts nuPlan would not blame on the ego left out (open-loop actors)
    ("min_clearance_at_fault_m", "  at fault only (nuPlan's rules)", "{:.2f}", 1.0, True),
    ("control_error_m", "control cross-track at 1 s (m)", "{:.3f}", None, False),
    # issue 23: heads visible within 60 m; plans that cross a red line; plans stopping at green
    ("light_accuracy", "light-state accuracy (<= 60 m)", "{:.4f}", 0.99, True),
    ("light_heads_on_unanswered_frames", "  of which heads on frames dropped", "{:d}", None, False),
    ("red_light_violations", "red-light violations (plans)", "{:d}", 0, False),
    ("needless_stops", "needless stops at green (plans)", "{:d}", None, False),
    ("green_stops_behind_vehicle", "  stops at green behind a vehicle", "{:d}", None, False),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a replay run against the scenario's ground truth")
    p.add_argument("run_dir", type=Path, help="run directory written by `l4 replay`")
    p.add_argument(
        "--bag", type=Path, default=None, help="scenario bag (default: the replayed one)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="F", help="write the scores here")
    p.add_argument(
        "--gnss",
        action="store_true",
        help="no ground truth (a third-party log): score the localization against the log's "
        "GNSS fixes (distance p50/p95/max, share of fixes rejected)",
    )
    p.add_argument(
        "--gnss-topic", default="/sensing/gnss/fix", help="the log's NavSatFix topic (--gnss)"
    )
    p.add_argument(
        "--map",
        type=Path,
        default=None,
        help="--gnss: the map .npz whose origin the EKF used (its map_path); default: first fix",
    )
    p.add_argument(
        "--align-first",
        type=argtypes.non_negative_float,
        default=0.0,
        metavar="S",
        help="--gnss on a run replayed without the fixes: align the track on the first S s of "
        "fixes, then report the drift against the later ones",
    )
    p.set_defaults(func=run)


def scenario_bag(run_dir: Path, bag: Path | None) -> Path:
    from stack.cli.errors import CliError

    if bag is not None:
        return bag
    facts = run_dir / "replay.json"
    if not facts.exists():
        raise CliError(f"{run_dir}: no replay.json; is this a `l4 replay` run? (or pass --bag)")
    return Path(json.loads(facts.read_text())["bag"])


def run(args: argparse.Namespace) -> int:
    from stack.cli.errors import CliError
    from stack.console import make_console
    from tools.eval.score import score_run, write_json

    outputs = args.run_dir / "outputs"
    if not outputs.exists():
        raise CliError(f"{args.run_dir}: no outputs/ bag; run `l4 replay BAG --run-dir DIR` first")
    if args.gnss:
        return run_gnss(args)
    from tools.eval.variants import run_image_variants

    bag = scenario_bag(args.run_dir, args.bag)
    result = score_run(outputs, bag, variants=run_image_variants(args.run_dir))
    console = make_console()
    print_summary(result, console)
    print_contacts(result, console)
    print_variants(result, console)
    if args.json:
        write_json(result, args.json)
    return 0


def print_contacts(result: dict, console) -> None:
    """Plans touching an actor, grouped by actor, nuPlan's collision type and fault."""
    from rich.table import Table

    contacts = result.get("contacts") or {}
    if not contacts.get("count"):
        return
    title = (
        f"plans touching an actor: {contacts['count']} contact(s), "
        f"{contacts['at_fault']} at fault (nuPlan's rules)"
    )
    table = Table("actor", "class", "type", "at fault", "plans", "earliest horizon (s)",
                  title=title)  # fmt: skip
    for row in contacts["by_actor"]:
        fault = "[red]yes[/]" if row["at_fault"] else "no"
        horizon = f"{row['earliest_horizon_s']:.1f}"
        table.add_row(row["actor_id"][:8], row["label"], row["type"], fault, str(row["plans"]),
                      horizon)  # fmt: skip
    console.print(table)


def print_variants(result: dict, console) -> None:
    """Camera AP per model variant, when the camera detector ran more than one."""
    from rich.table import Table

    by_variant = result.get("camera_ap50_by_variant") or {}
    if len(by_variant) < 2:
        return
    table = Table("variant", "frames", "camera AP@0.5 (vehicles)", "recall",
                  title="camera accuracy per model variant")  # fmt: skip
    for name, r in by_variant.items():
        ap = "n/a" if r["ap50"] is None else f"{r['ap50']:.3f}"
        rec = "n/a" if r["recall"] is None else f"{r['recall']:.3f}"
        table.add_row(name, str(r["frames"]), ap, rec)
    console.print(table)


def print_summary(result: dict, console) -> None:
    from rich.table import Table

    table = Table("metric", "value", "target", "verdict", title="accuracy against ground truth")
    for key, label, fmt, target, higher in SUMMARY:
        value = result.get(key)
        shown = "n/a" if value is None else fmt.format(value)
        if target is None or value is None:
            verdict = "" if value is not None else "[yellow]no data[/]"
            table.add_row(label, shown, "", verdict)
            continue
        ok = value >= target if higher else value <= target
        sign = ">=" if higher else "<="
        table.add_row(label, shown, f"{sign} {target:g}", "[green]ok[/]" if ok else "[red]MISS[/]")
    console.print(table)


def run_gnss(args: argparse.Namespace) -> int:
    from stack.console import make_console
    from tools.eval.gnss import score_against_gnss

    bag = scenario_bag(args.run_dir, args.bag)
    result = score_against_gnss(args.run_dir, bag, args.gnss_topic, args.align_first, args.map)
    console = make_console()
    if "drift" in result:
        d = result["drift"]
        console.print(
            f"drift after aligning on the first {args.align_first:g} s: p50 {d['p50_m']:.2f} m, "
            f"p95 {d['p95_m']:.2f} m, max {d['max_m']:.2f} m, final {d['final_m']:.2f} m over "
            f"{result['driven_m']:.0f} m driven ({100 * result['final_drift_share']:.2f} %)"
        )
    else:
        d = result["distance_to_fixes"]
        console.print(
            f"distance to the GNSS fixes: p50 {d['p50_m']:.2f} m, p95 {d['p95_m']:.2f} m, max "
            f"{d['max_m']:.2f} m; rejected {result['rejected']} of {result['fixes']} fixes "
            f"({100 * result['rejected_share']:.1f} %)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0
