"""``azdiag simulate``: write simulated guest-log collections from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from azdiag.simulate.api import simulate
from azdiag.simulate.model import Manifest
from azdiag.simulate.scenarios import SCENARIOS


def _manifest_path(written: Path) -> Path:
    """``<out>.manifest.json`` beside the collection (``x.zip`` -> ``x.manifest.json``)."""
    name = written.name[:-4] if written.suffix.lower() == ".zip" else written.name
    return written.with_name(name + ".manifest.json")


def _one(scenario: str, out: Path, **kw: object) -> tuple[Manifest, Path]:
    man = simulate(scenario, out, **kw)  # type: ignore[arg-type]
    written = (
        out if not man.zip or out.suffix.lower() == ".zip" else out.with_name(out.name + ".zip")
    )
    return man, written


def _help() -> str:
    """The command's help, with every scenario and its title (click keeps the \b block as is)."""
    listed = "\n".join(f"  {sid:<15} {scenario.title}" for sid, scenario in SCENARIOS.items())
    return (
        'Write a simulated guest-log collection for SCENARIO (or "all": one per scenario).\n\n'
        "An OUT ending in .zip is written as one zip archive.\n\n"
        f"Scenarios:\n\n\b\n{listed}"
    )


@click.command("simulate", help=_help())
@click.argument("scenario", type=click.Choice([*SCENARIOS, "all"]), metavar="SCENARIO")
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Collection folder to create (must not exist or be empty), or a .zip file.",
)
@click.option(
    "--seed", default=1, show_default=True, help="Seed; the same seed gives the same bytes."
)
@click.option(
    "--hours",
    default=1.0,
    show_default=True,
    help="Healthy steady period (healthy) or whole window (failures).",
)
@click.option("--instances", default=1, show_default=True, help="Role instances to simulate.")
@click.option("--zip", "as_zip", is_flag=True, help="Write one .zip instead of a folder.")
@click.option(
    "--variants",
    default="recognised",
    show_default=True,
    help='Line shapes: "recognised" (drawn from seed and scenario among those the analysis '
    'reads), "all" (among every documented one), "classic", or "dimension=value,..." '
    "(docs/simulator.md).",
)
@click.option(
    "--manifest",
    "with_manifest",
    is_flag=True,
    help="Also write <out>.manifest.json beside the collection.",
)
def simulate_command(
    scenario: str,
    out: Path,
    seed: int,
    hours: float,
    instances: int,
    as_zip: bool,
    variants: str,
    with_manifest: bool,
) -> None:
    ids = list(SCENARIOS) if scenario == "all" else [scenario]
    # "-o x.zip" means a zip: a folder named x.zip is never what was meant
    as_zip = as_zip or (scenario != "all" and out.suffix.lower() == ".zip")
    kw: dict[str, object] = {"seed": seed, "hours": hours, "instances": instances}
    kw |= {"zip": as_zip, "variants": variants}
    try:
        if scenario == "all":
            out.mkdir(parents=True, exist_ok=True)
        for sid in ids:
            target = out / sid if scenario == "all" else out
            man, written = _one(sid, target, **kw)
            if with_manifest:
                _manifest_path(written).write_text(json.dumps(man.to_dict(), indent=2) + "\n")
            click.echo(
                f"{sid}: {written} ({len(man.files)} files, {man.lines} lines, {man.bytes} bytes)"
            )
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
