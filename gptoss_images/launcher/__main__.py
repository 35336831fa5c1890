import sys

from gptoss_images.launcher.main import main

sys.exit(main())
