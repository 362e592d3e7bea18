from facepalsy.cli import main

raise SystemExit(main())
