"""``python -m airflow_provider_moveworks.emulator``: see ``cli.py``."""

from .cli import main

raise SystemExit(main())
