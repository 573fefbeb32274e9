"""Run the ``residua`` CLI with an audit hook recording every pickle-like file it opens.

Usage: python _audited_cli.py AUDIT_LOG residua-arguments...

Used by the reliability tests to show that no ``.pkl`` / ``.joblib`` / ``.pickle`` file from a
data directory is ever opened (let alone unpickled) by a run.
"""

import os
import sys

SUSPECT = (".pkl", ".pickle", ".joblib", ".npy", ".npz")


def main() -> int:
    log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def hook(event: str, args: tuple) -> None:
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            if path.lower().endswith(SUSPECT):
                os.write(log, f"open {path}\n".encode())

    sys.addaudithook(hook)
    from residua.pipelines.cli import main as residua

    return residua(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
