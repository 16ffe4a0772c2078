"""``opticsim presets``: the SLM, camera, laser and processor presets with their key specs and
sources (:mod:`opticsim.presets`)."""

from __future__ import annotations


def run(args, argv) -> int:
    from .. import presets

    if args.name is not None:
        record = presets.info(args.name)
        print(f"{record.name} ({record.kind}): {record.description}")
        for name, value in record.values.items():
            note = " (unverified)" if name in record.unverified else ""
            print(f"  {name} = {value!r}{note}")
        if record.electrical_power is not None:
            print(f"  electrical_power = {record.electrical_power!r} W")
        print(f"  source: {record.source}")
        for name, how in record.assumptions.items():
            print(f"  assumed {name}: {how}")
        if record.aliases:
            print(f"  aliases: {', '.join(record.aliases)}")
        return 0
    titles = {"slm": "SLMs", "camera": "cameras", "laser": "lasers",
              "processor": "processors (rooflines of the electronic side, opticsim bench)"}
    for kind, names in presets.names().items():
        if args.kind not in (None, kind):
            continue
        print(f"{titles[kind]}:")
        width = max(map(len, names))
        for name in names:
            record = presets.info(name)
            specs = ", ".join(f"{key} {value}" for key, value in record.specs().items())
            print(f"  {name:<{width}}  {record.description}")
            print(f"  {'':<{width}}  {specs}")
            print(f"  {'':<{width}}  source: {record.source}")
    print("* unverified (secondary source). Details: opticsim presets NAME; any value can be "
          "overridden, e.g. presets.camera('imx250', exposure=2e-3).")
    return 0


def add_parser(commands) -> None:
    """The ``presets`` subcommand."""
    from ..presets import KINDS

    listing = commands.add_parser(
        "presets", help="list the SLM, camera, laser and processor presets with their specs and "
        "sources",
        description="List the device presets (opticsim.presets) by kind with their key "
        "specifications and sources, or show one preset's values, sources and assumptions.")
    listing.add_argument("name", nargs="?", help="show this preset in full (aliases allowed)")
    listing.add_argument("--kind", choices=tuple(KINDS), help="list only this kind (default: all)")
    listing.set_defaults(handler=run)
