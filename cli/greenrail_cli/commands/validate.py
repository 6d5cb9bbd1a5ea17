"""``greenrail validate FILE``: check a policy document and print every error with its path.

Exit 0 when the document is valid, 1 otherwise (``FILE: path: message`` lines on stderr, then
the count); ``greenrail scan --policy FILE`` refuses the same documents with the same lines.
"""

from __future__ import annotations

import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check a policy document", description=__doc__)
    parser.add_argument("file", help="policy document (YAML)")
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
    print(f"{args.file}: valid ({modes})")
    return 0
