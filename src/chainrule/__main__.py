"""python -m chainrule: the chainrule command."""

from .cli import main

raise SystemExit(main())
