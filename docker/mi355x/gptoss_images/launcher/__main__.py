# GENERATED FILE: do not edit. Copied from gptoss_images/launcher/__main__.py. Regenerate: python build.py render
import sys

from gptoss_images.launcher.main import main

sys.exit(main())
