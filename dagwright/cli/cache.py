"""``dagwright cache stats | clear [--tool NAME]``: read or clear a step cache file.

Never creates a cache: a ``--cache`` path with no file is an error (exit 2), and so is
a file that is not a dagwright step cache (``DW-E027``). ``stats`` prints the entries
per tool and the size of the file; ``clear`` drops every entry, or with ``--tool`` the
entries of one tool (every version of it), and says how many.
"""

from __future__ import annotations

import argparse
import json

from dagwright.cli._errors import OK
from dagwright.cli._table import table


def command(args: argparse.Namespace) -> int:
    """Dispatch to the action; 0 on success (errors raise and exit 2)."""
    from dagwright.cache import SQLiteStepCache

    with SQLiteStepCache(args.cache, create=False) as cache:
        if args.action == "stats":
            stats = cache.stats()
            if args.json:
                data = stats.to_dict()
                del data["hits"], data["misses"]  # counted per process: always 0 here
                print(json.dumps({"cache": args.cache, **data}, indent=2, ensure_ascii=False))
                return OK
            print(f"{args.cache}: {stats.entries} entries, {_size(stats.size_bytes or 0)}")
            if stats.tools:
                rows = [[name, str(count)] for name, count in sorted(stats.tools.items())]
                print(table(["tool", "entries"], rows))
            return OK
        dropped = cache.delete(tool=args.tool) if args.tool is not None else cache.clear()
    if args.json:
        print(json.dumps({"cache": args.cache, "tool": args.tool, "deleted": dropped}))
        return OK
    which = f" of tool {args.tool!r}" if args.tool is not None else ""
    print(f"deleted {dropped} entries{which} from {args.cache}")
    return OK


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"
