"""``python -m streams.cli`` runs the ``cxpulse`` command."""

from streams.cli.main import main

main()
