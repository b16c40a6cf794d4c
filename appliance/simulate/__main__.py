import sys

from appliance.simulate.cli import main

sys.exit(main())
