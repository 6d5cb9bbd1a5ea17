"""``greenrail validate FILE``: check a policy document and print every error with its path.

Exit 0 when the document is valid, 1 otherwise (``FILE: path: message`` lines on stderr, then
the count); ``greenrail scan --policy FILE`` refuses the same documents with the same lines.
``--json``: a valid document is printed as compact JSON on stdout (what to deploy: the functions
read a JSON document without importing PyYAML, a shorter cold start; it is the same document).
"""

from __future__ import annotations

import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check a policy document", description=__doc__)
    parser.add_argument("file", help="policy document (YAML or JSON)")
    parser.add_argument("--json", action="store_true",
                        help="print the valid document as compact JSON (to deploy; comments are dropped)")
    parser.set_defaults(func=run)


def run(args: Any) -> int:
    from greenrail.document import PolicyError, load_policy_file

    try:
        document = load_policy_file(args.file)
    except PolicyError as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return 1
    from greenrail.registry import names

    modes = ", ".join(f"{name}={getattr(document, name).mode.value}" for name in names())
    if not args.json:
        print(f"{args.file}: valid ({modes})")
        return 0
    import json
    from pathlib import Path

    from greenrail import policy_yaml

    print(f"{args.file}: valid ({modes})", file=sys.stderr)
    data = policy_yaml.load(Path(args.file).read_text(encoding="utf-8-sig"))  # valid, so readable
    print(json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return 0
