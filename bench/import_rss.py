"""Where a serving worker's memory goes: the RSS each top-level package's import adds (P7).

`-X importtime` gives time, not memory. This installs a meta-path hook that charges each
top-level package with the resident memory its import added (exclusive of the other
top-level packages it imported in turn), then builds the app and runs its lifespan as a
worker does (services, scheduler, bus intake), and prints the table:

    BOOKKEEPER_DATABASE_URL=postgresql://... BOOKKEEPER_EXECUTOR=off \\
        .venv/bin/python bench/import_rss.py [--top 40] [--hold SECONDS]

`--hold` keeps the lifespan open that long before measuring (the scheduler's first runs:
the subscriptions' and the morning's catch-ups). The figures are this process's VmRSS
from /proc (Linux only); "after the lifespan" is what starting the services added beyond
the imports it made.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import importlib.machinery
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 2**20


class _Charging(importlib.abc.Loader):
    """Wraps a module's loader: charges its exec with the RSS it added."""

    def __init__(self, hook: ImportRss, name: str, loader: Any) -> None:
        self._hook, self._name, self._loader = hook, hook.package(name), loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        hook = self._hook
        start = rss_mb()
        hook.stack.append(0.0)
        try:
            self._loader.exec_module(module)
        finally:
            nested = hook.stack.pop()
            added = rss_mb() - start
            hook.charges[self._name] += added - nested
            if hook.stack:
                hook.stack[-1] += added

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class ImportRss(importlib.abc.MetaPathFinder):
    """The hook: installed first on sys.meta_path, asks the others and wraps their loader.
    Each module's exec is charged with the RSS it added less what the modules it imported
    in turn added (charged to them)."""

    def __init__(self, split: dict[str, int] | None = None) -> None:
        self.charges: dict[str, float] = defaultdict(float)
        self.stack: list[float] = []
        #: Packages charged deeper than their top level: name -> levels kept.
        self.split = {"bookkeeper": 2, **(split or {})}

    def package(self, fullname: str) -> str:
        """What a module's memory is charged to: its top-level package, or for a split
        package its first levels (bookkeeper.adapters, ...)."""
        parts = fullname.split(".")
        return ".".join(parts[: self.split.get(parts[0], 1)])

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Charging(self, fullname, spec.loader)
                return spec
        return None


_HOOK = ImportRss()


async def _start_worker(hold: float) -> float:
    """Build the app and run its lifespan as a worker does; RSS added by the lifespan
    (beyond its imports, which are charged to their packages)."""
    from bookkeeper.entrypoints.http.worker import app_factory

    app = app_factory()
    before, charged = rss_mb(), sum(_HOOK.charges.values())
    async with app.lifespan():
        if hold > 0:
            await asyncio.sleep(hold)
        return rss_mb() - before - (sum(_HOOK.charges.values()) - charged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--top", type=int, default=40, help="packages shown")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds the lifespan runs")
    parser.add_argument(
        "--split",
        default="",
        help="packages charged by their sub-packages, e.g. sqlalchemy=2,bookkeeper=3",
    )
    args = parser.parse_args(argv)
    for item in filter(None, args.split.split(",")):
        name, _, levels = item.partition("=")
        _HOOK.split[name] = int(levels or 2)
    start = rss_mb()
    hook = _HOOK
    sys.meta_path.insert(0, hook)
    lifespan = asyncio.run(_start_worker(args.hold))
    sys.meta_path.remove(hook)
    total = rss_mb()
    charged = sum(hook.charges.values())
    print(f"interpreter before the hook: {start:6.1f} MB")
    print(f"top-level packages imported: {len(hook.charges)}, charged {charged:6.1f} MB")
    for name, mb in sorted(hook.charges.items(), key=lambda item: -item[1])[: args.top]:
        print(f"  {name:<32} {mb:6.1f} MB")
    print(f"the lifespan beyond its imports: {lifespan:6.1f} MB")
    print(f"process RSS at the end:      {total:6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
