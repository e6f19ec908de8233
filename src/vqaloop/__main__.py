from vqaloop.cli import main

raise SystemExit(main())
