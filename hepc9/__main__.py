"""Entry point of ``python -m hepc9``."""

from hepc9.cli import main

raise SystemExit(main())
