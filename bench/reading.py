"""How well the offline extractor reads: per-field accuracy on a generated corpus.

    PYTHONPATH=src:. python bench/reading.py [--docs 320] [--photos 60] [--seed 13] [--workers N]

Builds the corpus of `tests/corpus/generate.py` (deterministic for a seed), reads every PDF
(text layer), a slice of the same documents as phone photos (OCR; skipped without
Tesseract), and a hostile twin of each PDF (hidden text), then prints a table of per-field
accuracy, documents per second, and whether every hostile twin stayed below its clean
twin and below the review cap. Not a test: a measurement to compare changes by.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "src"),
]
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from tests.corpus.generate import Doc, Expected, generate, hostile, photo  # noqa: E402

from bookkeeper.adapters.extraction import ocr  # noqa: E402
from bookkeeper.adapters.extraction.offline import SUSPICIOUS_CAP, OfflineExtractor  # noqa: E402
from bookkeeper.application.ports import Extraction  # noqa: E402

FIELDS = ("gross", "net", "vat_amount", "vat_rate", "date", "due_date", "merchant", "org_no",
          "kid", "account", "iban", "number", "kind")  # fmt: skip


def _rates(x: Extraction) -> tuple[Decimal, ...]:
    if x.lines and all(line.vat_rate is not None for line in x.lines) and x.vat_rate is None:
        return tuple(sorted({line.vat_rate for line in x.lines if line.vat_rate is not None}))
    return () if x.vat_rate is None else (x.vat_rate,)


def _norm(name: str | None) -> str:
    return " ".join((name or "").casefold().split())


CHECKS: dict[str, Callable[[Extraction, Expected], bool]] = {
    "gross": lambda x, e: x.gross == e.gross,
    "net": lambda x, e: x.net == e.net,
    "vat_amount": lambda x, e: x.vat_amount == e.vat_amount,
    "vat_rate": lambda x, e: _rates(x) == e.vat_rates,
    "date": lambda x, e: x.date == e.date,
    "due_date": lambda x, e: x.due_date == e.due_date,
    "merchant": lambda x, e: _norm(x.merchant_name) == _norm(e.merchant),
    "org_no": lambda x, e: x.organization_number == e.org,
    "kid": lambda x, e: x.kid == e.kid,
    "account": lambda x, e: x.bank_account == e.bank_account,
    "iban": lambda x, e: x.iban == e.iban,
    "number": lambda x, e: x.document_number == e.document_number,
    "kind": lambda x, e: x.document_type == e.kind,
}


def score(results: list[tuple[Doc, Extraction]]) -> dict[str, float]:
    hits: dict[str, int] = defaultdict(int)
    for doc, x in results:
        for name, check in CHECKS.items():
            hits[name] += check(x, doc.expected)
    return {name: hits[name] / max(len(results), 1) for name in FIELDS}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=320)
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="threads reading photos at once (default: one per core)")  # fmt: skip
    parser.add_argument("--misses", action="store_true", help="print every wrong field")
    args = parser.parse_args()

    docs = generate(args.docs, args.seed)
    extractor = OfflineExtractor()
    start, cpu_start = time.perf_counter(), time.process_time()
    pdf_results = [(d, extractor.extract_sync(d.pdf, "application/pdf", None)) for d in docs]
    pdf_rate = len(docs) / (time.perf_counter() - start)
    pdf_cpu = (time.process_time() - cpu_start) / len(docs)

    photo_results: list[tuple[Doc, Extraction]] = []
    photo_rate = photo_cpu = 0.0
    if ocr.available() and args.photos:
        step = max(len(docs) // args.photos, 1)
        chosen = docs[::step][: args.photos]
        photos = [(d, photo(d.pdf, i)) for i, d in enumerate(chosen)]
        # As the service reads concurrent uploads: one thread per core (asyncio.to_thread);
        # Tesseract itself runs on ocr's bounded pool (one engine per core, loaded once:
        # warmed up first, as in a running service). --workers 1: one document at a time.
        ocr.warm_up()
        start, cpu_start = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            read = list(pool.map(lambda dp: extractor.extract_sync(dp[1], "image/jpeg", None),
                                 photos))  # fmt: skip
        photo_results = [(d, x) for (d, _), x in zip(photos, read, strict=True)]
        photo_rate = len(photos) / (time.perf_counter() - start)
        # Tesseract runs in this process (tesserocr): its CPU time is counted here too.
        photo_cpu = (time.process_time() - cpu_start) / len(photos)

    clean = dict(pdf_results)
    kept, total_hostile, below = 0, 0, 0
    for i, d in enumerate(docs):
        h = hostile(d, i)
        x = extractor.extract_sync(h.pdf, "application/pdf", None)
        total_hostile += 1
        kept += x.confidence <= SUSPICIOUS_CAP
        below += x.confidence < clean[d].confidence
        if args.misses and not x.confidence < clean[d].confidence:
            print("hostile", h.name, "confidence", x.confidence, "clean", clean[d].confidence)

    pdf_scores, photo_scores = score(pdf_results), score(photo_results)
    print(f"{'field':<12}{'PDF text':>10}{'photos':>10}")
    for name in FIELDS:
        photo_cell = f"{photo_scores[name]:>10.1%}" if photo_results else f"{'-':>10}"
        print(f"{name:<12}{pdf_scores[name]:>10.1%}{photo_cell}")
    print(f"{'documents':<12}{len(pdf_results):>10}{len(photo_results):>10}")
    print(f"{'docs/s':<12}{pdf_rate:>10.1f}{photo_rate:>10.2f}")
    # CPU seconds per document: what the machine can do when nothing else runs on it
    # (cores / CPU s per document), as the wall-clock rate depends on the load beside it.
    print(f"{'cpu s/doc':<12}{pdf_cpu:>10.3f}{photo_cpu:>10.3f}")
    cores = os.cpu_count() or 1
    capacity = f"{cores / photo_cpu:>10.2f}" if photo_cpu else f"{'-':>10}"
    print(f"{'docs/s/' + str(cores) + ' cores':<12}{cores / pdf_cpu:>10.1f}{capacity}")
    print(f"hostile twins kept in review (confidence <= {SUSPICIOUS_CAP}): {kept}/{total_hostile}; "
          f"below their clean twin: {below}/{total_hostile}")  # fmt: skip
    if args.photos and not ocr.available():
        print("photos: skipped (tesseract with Norwegian data is not installed)")
    if args.misses:
        for label, results in (("pdf", pdf_results), ("photo", photo_results)):
            for doc, x in results:
                for name, check in CHECKS.items():
                    if not check(x, doc.expected):
                        print(label, doc.name, name, "got", _got(x, name), "want", _want(doc, name))


def _got(x: Extraction, name: str) -> object:
    return {"merchant": x.merchant_name, "org_no": x.organization_number, "kind": x.document_type,
            "vat_rate": _rates(x), "account": x.bank_account,
            "number": x.document_number}.get(name, getattr(x, name, None))  # fmt: skip


def _want(doc: Doc, name: str) -> object:
    e = doc.expected
    return {
        "merchant": e.merchant,
        "org_no": e.org,
        "vat_rate": e.vat_rates,
        "account": e.bank_account,
        "number": e.document_number,
    }.get(name, getattr(e, name, None))


if __name__ == "__main__":
    main()
