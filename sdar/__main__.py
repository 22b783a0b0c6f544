import sys

from sdar.cli import main

sys.exit(main())
