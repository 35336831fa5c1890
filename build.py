#!/usr/bin/env python3
"""gptoss-images: validate profiles, render Dockerfiles, build, test and push images.

Run `python build.py --help` for the commands.
"""
import sys

from gptoss_images.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
