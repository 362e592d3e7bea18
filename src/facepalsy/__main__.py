from facepalsy.app.cli import main

raise SystemExit(main())
