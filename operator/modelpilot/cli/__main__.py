import sys

from modelpilot.cli.main import main

sys.exit(main())
