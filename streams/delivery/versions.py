"""Which Faust and aiokafka releases the delivery guarantees were written against.

The guarantees replace methods of Faust's and aiokafka's classes (their names are listed in
:mod:`streams.delivery`), and those are internals: a release may rename one, or change when it is
called, without notice. A worker running other releases than these still starts, and says so,
because whether the guarantees hold there is only known from running the test suite on them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

# Distribution -> the release series (major.minor) the patches were written and tested for.
WRITTEN_FOR = {"faust-streaming": "0.15", "aiokafka": "0.14"}


def _series(text: str) -> str:
    return ".".join(text.split(".")[:2])


def mismatches(installed: dict[str, str] | None = None) -> list[str]:
    """One line per distribution whose installed release is not of the series written for."""
    found: list[str] = []
    for name, series in WRITTEN_FOR.items():
        try:
            have = installed[name] if installed is not None else version(name)
        except (KeyError, PackageNotFoundError):
            have = "none"
        if _series(have) != series:
            found.append(
                f"{name} {have} is installed; cxpulse's delivery guarantees patch classes of {name} "
                f"{series}.x. Run the test suite (make test) against it before relying on exactly-once "
                f"counts, or install the locked releases (make install)."
            )
    return found
