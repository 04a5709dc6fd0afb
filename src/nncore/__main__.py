"""``python -m nncore``: the command line (see ``nncore.cli``)."""

from nncore.cli import main

raise SystemExit(main())
