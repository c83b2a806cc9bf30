import sys

from sesli.cli import main

sys.exit(main())
